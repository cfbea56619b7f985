"""The report as ONE self-contained HTML file with inline SVG plots drawn here.

No scripts, no CDN, no fonts to fetch: the file is an artifact a CI job uploads and someone
opens months later, offline. Plots: end-to-end distribution on a log axis with the target
line, percentiles over time, throughput and errors over time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from typing import Any

from evtool.results.delivery import delivery_html
from evtool.results.report import (
    STAGE_COLUMNS,
    collector_line,
    fmt_latency,
    fmt_ms,
    fmt_slo_actual,
    stage_rows,
    transport_lines,
)
from evtool.results.stats import PERCENTILE_NAMES

WIDTH, HEIGHT = 1040, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 34, 45
COLORS = {"p50": "#2b8a3e", "p90": "#1971c2", "p99": "#e8590c", "max": "#868e96",
          "ok": "#2b8a3e", "failed": "#e03131", "dropped": "#f08c00", "aborted": "#868e96", "lost": "#7048e8",
          "target": "#c92a2a", "bar": "#4c6ef5"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212529;
 max-width:1100px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 8px}
.verdict{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600}
.PASS{background:#2b8a3e}.FAIL{background:#c92a2a}.NOT_MEASURABLE{background:#e67700}.INCOMPLETE{background:#862e9c}
table{border-collapse:collapse;font-size:14px;margin:6px 0}
th,td{border-bottom:1px solid #dee2e6;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}
.muted{color:#868e96;font-size:13px} .warn{background:#fff4e6;border-left:4px solid #e67700;padding:6px 10px}
svg{background:#fff;border:1px solid #e9ecef} svg text{font-size:11px;fill:#495057}
"""


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _axis_label(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _frame(title_y: str, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]]) -> list[str]:
    """Axes, grid and tick labels; tick positions are already in pixels."""
    parts = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
             'stroke="#868e96"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#868e96"/>']
    for x, label in x_ticks:
        parts.append(f'<line x1="{x:.1f}" y1="{HEIGHT - BOTTOM}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM + 4}" '
                     'stroke="#868e96"/>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                     f'{escape(label)}</text>')
    for y, label in y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#f1f3f5"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    parts.append(f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2:.0f})">{escape(title_y)}</text>')
    return parts


def _svg(parts: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">'
            + "".join(parts) + "</svg>")


def _legend(items: list[tuple[str, str]]) -> str:
    parts = []
    x = LEFT + 10
    for name, color in items:
        parts.append(f'<rect x="{x}" y="{TOP - 20}" width="12" height="4" fill="{color}"/>'
                     f'<text x="{x + 16}" y="{TOP - 14}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return "".join(parts)


def distribution_svg(doc: dict[str, Any]) -> str:
    bins = doc["distribution"]
    target = float(doc["target_ms"])
    if not bins:
        return "<p class='muted'>No latencies were measured.</p>"
    lo = math.log10(min(bins[0]["from_ms"], target / 2))
    hi = math.log10(max(bins[-1]["to_ms"], target * 2))
    top = max(b["count"] for b in bins) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(ms: float) -> float:
        return LEFT + (math.log10(ms) - lo) / (hi - lo) * plot_w

    x_ticks = [(x_of(m * 10.0**e), fmt_ms(m * 10.0**e)) for e in range(math.floor(lo), math.ceil(hi) + 1)
               for m in (1, 2, 5) if lo <= math.log10(m * 10.0**e) <= hi]
    y_ticks = [(HEIGHT - BOTTOM - v / top * plot_h, _axis_label(v)) for v in _nice_ticks(0, top)]
    parts = _frame("events", x_ticks, y_ticks)
    for b in bins:
        x0, x1 = x_of(b["from_ms"]), x_of(b["to_ms"])
        h = b["count"] / top * plot_h
        parts.append(f'<rect x="{x0:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="{COLORS["bar"]}"><title>{fmt_ms(b["from_ms"])}–'
                     f'{fmt_ms(b["to_ms"])}: {b["count"]}</title></rect>')
    tx = x_of(target)
    parts.append(f'<line x1="{tx:.1f}" y1="{TOP}" x2="{tx:.1f}" y2="{HEIGHT - BOTTOM}" '
                 f'stroke="{COLORS["target"]}" stroke-width="2" stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{tx + 4:.1f}" y="{TOP + 12}" fill="{COLORS["target"]}" '
                 f'style="fill:{COLORS["target"]}">target {fmt_ms(target)}</text>')
    e2e = doc["latency_ms"]["end_to_end"]
    for name in ("p50", "p99"):
        if e2e[name]:
            px = x_of(max(e2e[name], 10**lo))
            parts.append(f'<line x1="{px:.1f}" y1="{TOP + 18}" x2="{px:.1f}" y2="{HEIGHT - BOTTOM}" '
                         f'stroke="{COLORS[name]}" stroke-width="1.5"/>'
                         f'<text x="{px + 3:.1f}" y="{TOP + 30}" style="fill:{COLORS[name]}">{name}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 'end-to-end latency (log scale)</text>')
    return _svg(parts, "end-to-end latency distribution")


def _time_axis(
    windows: list[dict[str, Any]], window_s: float
) -> tuple[list[tuple[float, str]], Callable[[float], float]]:
    n = len(windows)
    plot_w = WIDTH - LEFT - RIGHT

    def x_of(i: float) -> float:
        return LEFT + (i + 0.5) / max(n, 1) * plot_w

    span = n * window_s
    ticks = [(x_of(t / window_s - 0.5), f"{t:g}s") for t in _nice_ticks(0, span, 8) if t <= span]
    return ticks, x_of


def percentiles_svg(doc: dict[str, Any]) -> str:
    windows = doc["windows"]
    if not windows:
        return "<p class='muted'>No events.</p>"
    target = float(doc["target_ms"])
    names = ("p50", "p90", "p99", "max")
    top = float(max([target * 1.1] + [w["latency_ms"][p] or 0 for w in windows for p in names]))
    plot_h = HEIGHT - TOP - BOTTOM
    x_ticks, x_of = _time_axis(windows, doc["window_s"])

    def y_of(ms: float) -> float:
        return HEIGHT - BOTTOM - ms / top * plot_h

    parts = _frame("ms", x_ticks, [(y_of(v), _axis_label(v)) for v in _nice_ticks(0, top)])
    parts.append(f'<line x1="{LEFT}" y1="{y_of(target):.1f}" x2="{WIDTH - RIGHT}" y2="{y_of(target):.1f}" '
                 f'stroke="{COLORS["target"]}" stroke-dasharray="6 4"/>')
    for name in names:
        segments: list[list[str]] = [[]]
        for i, w in enumerate(windows):
            value = w["latency_ms"][name]
            if value is None:
                segments.append([])
                continue
            segments[-1].append(f"{x_of(i):.1f},{y_of(value):.1f}")
        for points in segments:
            if len(points) == 1:
                x, y = points[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{COLORS[name]}"/>')
            elif points:
                parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLORS[name]}" '
                             'stroke-width="1.8"/>')
    parts.append(_legend([(n, COLORS[n]) for n in names] + [("target", COLORS["target"])]))
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 f'time since start (by intended send time, {doc["window_s"]:g} s windows)</text>')
    return _svg(parts, "end-to-end percentiles over time")


def _bars_over_time(
    doc: dict[str, Any], names: tuple[str, ...], y_title: str, caption: str, label: str
) -> str:
    """Stacked bars per window, per second, for the outcomes in `names` (own scale)."""
    windows = doc["windows"]
    if not windows:
        return "<p class='muted'>No events.</p>"
    window_s = float(doc["window_s"])
    totals = [sum(w[n] for n in names) / window_s for w in windows]
    top = max(totals) or 1.0
    plot_h = HEIGHT - TOP - BOTTOM
    x_ticks, x_of = _time_axis(windows, window_s)
    bar_w = max((WIDTH - LEFT - RIGHT) / len(windows) - 1, 1)

    def y_of(v: float) -> float:
        return HEIGHT - BOTTOM - v / top * plot_h

    parts = _frame(y_title, x_ticks, [(y_of(v), _axis_label(v)) for v in _nice_ticks(0, top)])
    for i, w in enumerate(windows):
        base = 0.0
        for name in names:
            value = w[name] / window_s
            if value <= 0:
                continue
            y0, y1 = y_of(base), y_of(base + value)
            parts.append(f'<rect x="{x_of(i) - bar_w / 2:.1f}" y="{y1:.1f}" width="{bar_w:.1f}" '
                         f'height="{max(y0 - y1, 0.5):.1f}" fill="{COLORS[name]}" '
                         f'opacity="{0.6 if name == "ok" else 0.95}">'
                         f'<title>{name}: {w[name]}</title></rect>')
            base += value
    parts.append(_legend([(n, COLORS[n]) for n in names]))
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 f"{escape(caption)}</text>")
    return _svg(parts, label)


def throughput_svg(doc: dict[str, Any]) -> str:
    return _bars_over_time(doc, ("ok", "failed", "dropped", "aborted", "lost"), "events/s",
                           "scheduled events per second, by outcome", "throughput over time")


def errors_svg(doc: dict[str, Any]) -> str:
    if not any(w["failed"] or w["dropped"] or w.get("aborted") or w["lost"] for w in doc["windows"]):
        return "<p class='muted'>No failed, dropped, aborted or lost events.</p>"
    return _bars_over_time(doc, ("failed", "dropped", "aborted", "lost"), "events/s",
                           "failed, dropped, aborted and lost events per second (own scale)",
                           "errors over time")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(doc: dict[str, Any]) -> str:
    counts = doc["counts"]
    verdict = doc["verdict"]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    labels = {"end_to_end": "end-to-end", "ack": "ack", "service": "service time",
              "scheduling_lag": "scheduling lag"}
    share = doc["within_target_share"]
    headline = doc.get("verdict_line", verdict.replace("_", " "))
    qualifier = headline[len(verdict.replace("_", " ")):].strip()
    basis = f" <span class='muted'>{escape(qualifier)}</span>" if qualifier else ""
    sections = [
        f"<h1>Latency report <span class='verdict {verdict}'>{verdict.replace('_', ' ')}</span>{basis}</h1>",
        f"<p class='muted'>target {fmt_ms(doc['target_ms'])} · {counts['scheduled']} events · "
        f"{len(doc['runs'])} run dir(s): {escape(', '.join(r['path'] for r in doc['runs']))} · "
        f"{generated}</p>",
    ]
    transports = transport_lines(doc)
    if transports:
        items = "".join(f"<li>{escape(line.strip())}</li>" for line in transports)
        sections.append(f"<ul class='run'>{items}</ul>")
    if doc["end_to_end_source"] == "ack":
        sections.append("<p class='warn'>No collector: end-to-end latency is acknowledgement latency.</p>")
    sections += [f"<p class='warn'>Incomplete: {escape(r)}</p>" for r in doc.get("incomplete", [])]
    sections += [f"<p class='warn'>Not measurable: {escape(r)}</p>" for r in doc["not_measurable"]]
    if (doc.get("objectives") or {}).get("description"):
        sections.append(f"<p>Default objectives: {escape(doc['objectives']['description'])}</p>")
    sections.append("<h2>Objectives</h2>" + _table(
        ["objective", "actual", "result"],
        [[s["slo"], fmt_slo_actual(s), "–" if s["passed"] is None else ("pass" if s["passed"] else "FAIL")]
         for s in doc["slos"]],
    ))
    sections.append("<h2>Latency</h2>" + _table(
        ["", "count", *PERCENTILE_NAMES],
        [[label, str(doc["latency_ms"][key]["count"]), *[fmt_latency(doc["latency_ms"][key], p)
                                                          for p in PERCENTILE_NAMES]]
         for key, label in labels.items()],
    ))
    sections.append(_table(
        ["scheduled", "ok", "failed", "dropped", "aborted", "lost", f"within {fmt_ms(doc['target_ms'])}",
         "results matching no event", "duplicate results"],
        [[str(counts["scheduled"]), str(counts["ok"]), str(counts["failed"]), str(counts["dropped"]),
          str(counts.get("aborted", 0)), str(counts["lost"]), f"{share:.3%}" if share is not None else "–",
          str(counts["unmatched_results"]), str(counts["duplicate_results"])]],
    ))
    collected = collector_line(doc)
    if collected:
        sections.append(f"<p>{escape(collected)}</p>")
    if doc.get("stages"):
        sections.append("<h2>Stages</h2>" + _table(list(STAGE_COLUMNS), stage_rows(doc))
                        + f"<p class='muted'>{escape(doc['stages_note'])}</p>")
    sections.append("<h2>End-to-end distribution</h2>" + distribution_svg(doc))
    sections.append("<h2>Percentiles over time</h2>" + percentiles_svg(doc))
    sections.append("<h2>Throughput over time</h2>" + throughput_svg(doc))
    sections.append("<h2>Errors over time</h2>" + errors_svg(doc))
    if doc["by_type"]:
        sections.append("<h2>Per event type</h2>" + _table(
            ["type", "version", "events", "ok", "failed", "dropped", "aborted", "lost", "p50", "p99", "max"],
            [[g["type"], str(g["schema_version"]), *[str(g["counts"].get(k, 0)) for k in
                                                      ("scheduled", "ok", "failed", "dropped", "aborted",
                                                       "lost")],
              *[fmt_latency(g["latency_ms"], p) for p in ("p50", "p99", "max")]] for g in doc["by_type"]],
        ))
    if doc["baseline"]:
        sections.append("<h2>Against baseline</h2>" + _table(
            ["", "baseline", "now", "change"],
            [[name, fmt_ms(d["baseline_ms"]), fmt_ms(d["current_ms"]),
              "–" if d["delta_ms"] is None else f"{d['delta_ms']:+.1f} ms"]
             for name, d in doc["baseline"]["percentiles"].items()],
        ))
    if doc.get("failures"):
        sections.append("<h2>Failures and drops</h2>" + _table(
            ["outcome", "reason", "events"],
            [[f["outcome"], f["text"], str(f["count"])] for f in doc["failures"]]))
    elif doc["reasons"]:
        sections.append("<h2>Failures and drops</h2>" + _table(
            ["reason", "events"], [[k, str(v)] for k, v in doc["reasons"].items()]))
    sections.append(delivery_html(doc))
    if doc["notes"]:
        items = "".join(f"<li>{escape(n)}</li>" for n in doc["notes"])
        sections.append(f"<h2>Notes</h2><ul>{items}</ul>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>evtool latency report: {escape(headline)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")
