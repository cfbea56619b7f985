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
    clock_lines,
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
svg{background:#fff;border:1px solid #e9ecef;max-width:100%;height:auto} svg text{font-size:11px;fill:#495057}
svg text.marker{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
table.config th,table.config td{text-align:left;vertical-align:top}
table.config td:first-child{white-space:nowrap}
table.config td+td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;overflow-wrap:anywhere}
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


CHAR_W = 6.6  # an 11 px system-ui character, wide enough for digits (labels are placed by this)
LINE_H = 15  # an 11 px line as Chromium draws it (ascent + descent), the step between label rows


def _text_w(text: str) -> float:
    return len(text) * CHAR_W


def _legend(items: list[tuple[str, str]]) -> str:
    """One row of swatches above the plot; a row that would leave the plot continues below it."""
    parts = []
    x, y = LEFT + 10.0, TOP - 20
    for name, color in items:
        width = 24 + _text_w(name)
        if x + width > WIDTH - RIGHT:
            x, y = LEFT + 10, y + LINE_H
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="4" fill="{color}"/>'
                     f'<text x="{x + 16:.1f}" y="{y + 6}">{escape(name)}</text>')
        x += width
    return "".join(parts)


def _label_rows(labels: list[tuple[float, str, str]]) -> list[tuple[float, int]]:
    """(left x, row) of each marker label (x, text, color), in the order given: none clips at the
    plot's edges or overlaps another; a label that would run past the right edge ends at its
    marker instead, and one that would touch an earlier label moves down a row."""
    placed: list[tuple[float, float, int]] = []  # (left, right, row)
    for x, text, _ in labels:
        width = _text_w(text)
        left = x + 3
        if left + width > WIDTH - RIGHT:
            left = x - 3 - width
        left = max(left, LEFT + 2)
        row = 0
        while any(row == r and left < right + 4 and left + width + 4 > lo for lo, right, r in placed):
            row += 1
        placed.append((left, left + width, row))
    return [(left, row) for left, _, row in placed]


def _place_labels(labels: list[tuple[float, str, str]], top: float) -> list[str]:
    """The marker labels as SVG text, rows from `top` down (see `_label_rows`)."""
    parts = []
    for (left, row), (_, text, color) in zip(_label_rows(labels), labels, strict=True):
        parts.append(f'<text x="{left:.1f}" y="{top + 12 + LINE_H * row:.1f}" text-anchor="start" '
                     f'class="marker" style="fill:{color}">{escape(text)}</text>')
    return parts


def distribution_svg(doc: dict[str, Any]) -> str:
    """End-to-end counts on a log axis, the target and p50 / p99 marked; their labels sit in a band
    above the bars (rows, so close markers never overlap), never on top of them."""
    bins = doc["distribution"]
    target = float(doc["target_ms"])
    if not bins:
        return "<p class='muted'>No latencies were measured.</p>"
    lo = math.log10(min(bins[0]["from_ms"], target / 2))
    hi = math.log10(max(bins[-1]["to_ms"], target * 2))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(ms: float) -> float:
        return LEFT + (math.log10(ms) - lo) / (hi - lo) * plot_w

    labels = [(x_of(target), f"target {fmt_ms(target)}", COLORS["target"])]
    e2e = doc["latency_ms"]["end_to_end"]
    for name in ("p50", "p99"):
        if e2e[name]:
            labels.append((x_of(min(max(e2e[name], 10**lo), 10**hi)), f"{name} {fmt_latency(e2e, name)}",
                           COLORS[name]))
    rows = max(row for _, row in _label_rows(labels)) + 1
    band = LINE_H * rows + 6  # the bars stop below the labels
    top = max(b["count"] for b in bins) * plot_h / (plot_h - band) or 1
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
    for (x, _, color), dashed in zip(labels, [True] + [False] * (len(labels) - 1), strict=True):
        style = 'stroke-width="2" stroke-dasharray="6 4"' if dashed else 'stroke-width="1.5"'
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" '
                     f'stroke="{color}" {style}/>')
    parts += _place_labels(labels, TOP)
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 'end-to-end latency (log scale)</text>')
    return _svg(parts, "end-to-end latency distribution")


def _span(doc: dict[str, Any]) -> float:
    """Seconds the plots' time axis covers: the run's own span (a 1 s run is 0–1 s, whatever the window)."""
    windows = doc["windows"]
    if windows and "to_s" in windows[-1]:
        return max(float(windows[-1]["to_s"]), 1e-3)
    return max(len(windows) * float(doc["window_s"]), 1e-3)


def _window_extent(doc: dict[str, Any], i: int) -> tuple[float, float]:
    """(from, to) seconds since the run's start of window i: the part of it inside the run."""
    w = doc["windows"][i]
    if "from_s" in w:
        return float(w["from_s"]), float(w["to_s"])
    return i * float(doc["window_s"]), (i + 1) * float(doc["window_s"])


def _time_axis(doc: dict[str, Any]) -> tuple[list[tuple[float, str]], Callable[[float], float]]:
    span = _span(doc)
    plot_w = WIDTH - LEFT - RIGHT

    def x_of(t: float) -> float:
        return LEFT + t / span * plot_w

    ticks = [(x_of(t), f"{t:g}s") for t in _nice_ticks(0, span, 8) if t <= span * 1.0001]
    return ticks, x_of


def _log_axis(values: list[float], target: float) -> tuple[float, float, list[tuple[float, str]]]:
    """(log10 low, log10 high, ticks in ms) of a log axis around the values; the target joins the
    range when it is within 10x of them, so a 60 ms run is not squashed under a 2 s target."""
    lo_v, hi_v = min(values), max(values)
    if target <= hi_v * 10:
        lo_v, hi_v = min(lo_v, target), max(hi_v, target)
    lo, hi = math.log10(max(lo_v, 1e-3)) - 0.12, math.log10(max(hi_v, 1e-3)) + 0.12
    if hi - lo < 0.6:  # a flat run still gets a readable axis (a factor of 4)
        middle = (hi + lo) / 2
        lo, hi = middle - 0.3, middle + 0.3
    decades = hi - lo
    mantissas = (1, 1.5, 2, 3, 5, 7) if decades <= 1.2 else (1, 2, 5) if decades <= 3.5 else (1,)
    ticks = [m * 10.0**e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in mantissas]
    return lo, hi, [(t, fmt_ms(t)) for t in ticks if lo <= math.log10(t) <= hi]


def percentiles_svg(doc: dict[str, Any]) -> str:
    """Percentiles per window on a log axis fitted to them, the target marked; a window whose
    percentile is above the result timeout is a triangle at its bound, one with no latency at all
    (every event failed, dropped or aborted) a shaded band: neither reads as a good value."""
    windows = doc["windows"]
    if not windows:
        return "<p class='muted'>No events.</p>"
    target = float(doc["target_ms"])
    names = ("p50", "p90", "p99", "max")
    values = [float(w["latency_ms"][p]) for w in windows for p in names if w["latency_ms"][p] is not None]
    lo, hi, y_ticks = _log_axis(values or [target], target)
    plot_h = HEIGHT - TOP - BOTTOM
    x_ticks, x_of = _time_axis(doc)

    def y_of(ms: float) -> float:
        return HEIGHT - BOTTOM - (math.log10(max(ms, 1e-3)) - lo) / (hi - lo) * plot_h

    parts = _frame("ms (log scale)", x_ticks, [(y_of(v), label) for v, label in y_ticks])
    legend = [(n, COLORS[n]) for n in names]
    no_result = [i for i, w in enumerate(windows)
                 if w["scheduled"] and all(w["latency_ms"][p] is None for p in names)]
    for i in no_result:
        x0, x1 = (x_of(t) for t in _window_extent(doc, i))
        parts.append(f'<rect class="no-result" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 2):.1f}" '
                     f'height="{plot_h}" fill="{COLORS["failed"]}" opacity="0.12"><title>no latency in this '
                     f'window: every event failed, was dropped or aborted ({windows[i]["scheduled"]} events)'
                     f'</title></rect><text x="{(x0 + x1) / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
                     f'text-anchor="middle" style="fill:{COLORS["failed"]};font-size:16px">×</text>')
    if no_result:
        legend.append(("× no latency measured", COLORS["failed"]))
    target_in = lo <= math.log10(target) <= hi
    if target_in:
        ty = y_of(target)
        parts.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}" '
                     f'stroke="{COLORS["target"]}" stroke-dasharray="6 4"/>')
    legend.append((f"target {fmt_ms(target)}" + ("" if target_in else " (above)"), COLORS["target"]))
    censored_any = False
    for name in names:
        segments: list[list[str]] = [[]]
        for i, w in enumerate(windows):
            value = w["latency_ms"][name]
            x = x_of(sum(_window_extent(doc, i)) / 2)
            if value is None or name in w.get("censored", ()):
                segments.append([])
                if value is not None:  # above the result timeout: its bound, as an upward triangle
                    censored_any = True
                    y = y_of(value)
                    parts.append(f'<path class="censored" d="M{x:.1f},{y - 6:.1f} l5,9 h-10 z" fill="none" '
                                 f'stroke="{COLORS[name]}" stroke-width="1.5"><title>{name} &gt; '
                                 f'{fmt_ms(value)} (above the result timeout)</title></path>')
                continue
            segments[-1].append(f"{x:.1f},{y_of(value):.1f}")
        for points in segments:
            if len(points) == 1:
                x_text, y_text = points[0].split(",")
                parts.append(f'<circle cx="{x_text}" cy="{y_text}" r="2.5" fill="{COLORS[name]}"/>')
            elif points:
                parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLORS[name]}" '
                             'stroke-width="1.8"/>')
    if censored_any:
        legend.append(("△ above the result timeout", COLORS["max"]))
    parts.append(_legend(legend))
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 f'time since start (by intended send time, {doc["window_s"]:g} s windows)</text>')
    return _svg(parts, "end-to-end percentiles over time")


def _bars_over_time(
    doc: dict[str, Any], names: tuple[str, ...], y_title: str, caption: str, label: str
) -> str:
    """Stacked bars per window, per second of the window's part of the run, for the outcomes in
    `names` (own scale): a 1 s run of 4 events is 4 events/s over 0–1 s."""
    windows = doc["windows"]
    if not windows:
        return "<p class='muted'>No events.</p>"
    extents = [_window_extent(doc, i) for i in range(len(windows))]
    spans = [max(t1 - t0, 1e-3) for t0, t1 in extents]
    totals = [sum(w[n] for n in names) / span for w, span in zip(windows, spans, strict=True)]
    top = max(totals) or 1.0
    plot_h = HEIGHT - TOP - BOTTOM
    x_ticks, x_of = _time_axis(doc)

    def y_of(v: float) -> float:
        return HEIGHT - BOTTOM - v / top * plot_h

    parts = _frame(y_title, x_ticks, [(y_of(v), _axis_label(v)) for v in _nice_ticks(0, top)])
    for w, (t0, t1), span in zip(windows, extents, spans, strict=True):
        base = 0.0
        x0, x1 = x_of(t0), x_of(t1)
        for name in names:
            value = w[name] / span
            if value <= 0:
                continue
            y0, y1 = y_of(base), y_of(base + value)
            parts.append(f'<rect x="{x0 + 0.5:.1f}" y="{y1:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                         f'height="{max(y0 - y1, 0.5):.1f}" fill="{COLORS[name]}" '
                         f'opacity="{0.6 if name == "ok" else 0.95}">'
                         f'<title>{name}: {w[name]} ({value:.3g}/s over {t0:g}–{t1:g} s)</title></rect>')
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


def _table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f" class='{css}'" if css else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
    clocks = clock_lines(doc)
    if clocks:
        items = "".join(f"<li>{escape(line.strip())}</li>" for line in clocks)
        sections.append(f"<ul class='run clock'>{items}</ul>")
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
    # why events failed comes right after the counts: for a failing run it is the first question
    if doc.get("failures"):
        sections.append("<h2>Failures and drops</h2>" + _table(
            ["outcome", "reason", "events"],
            [[f["outcome"], f["text"], str(f["count"])] for f in doc["failures"]]))
    elif doc["reasons"]:
        sections.append("<h2>Failures and drops</h2>" + _table(
            ["reason", "events"], [[k, str(v)] for k, v in doc["reasons"].items()]))
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
            ["type", "version", "events", "results", "ok", "failed", "dropped", "aborted", "lost",
             "p50", "p99", "max"],
            [[g["type"], str(g["schema_version"]), *[str(g["counts"].get(k) or 0) for k in
                                                      ("scheduled", "results", "ok", "failed", "dropped",
                                                       "aborted", "lost")],
              *[fmt_latency(g["latency_ms"], p) for p in ("p50", "p99", "max")]] for g in doc["by_type"]],
        ))
    if doc["baseline"]:
        sections.append("<h2>Against baseline</h2>" + _table(
            ["", "baseline", "now", "change"],
            [[name, fmt_ms(d["baseline_ms"]), fmt_ms(d["current_ms"]),
              "–" if d["delta_ms"] is None else f"{d['delta_ms']:+.1f} ms"]
             for name, d in doc["baseline"]["percentiles"].items()],
        ))
    for config in doc.get("configuration", []):
        title = "Configuration" + (f" of {config['run']}" if len(doc["runs"]) > 1 else "")
        sections.append(f"<h2 id='configuration'>{escape(title)}</h2>" + _table(
            ["setting", "value"], [[item["name"], item["value"]] for item in config["items"]],
            css="config"))
    sections.append(delivery_html(doc))
    if doc["notes"]:
        items = "".join(f"<li>{escape(n)}</li>" for n in doc["notes"])
        sections.append(f"<h2>Notes</h2><ul>{items}</ul>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>evtool latency report: {escape(headline)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(sections) + "</body></html>\n")
