"""The report as GitHub-flavoured Markdown, for a pull-request comment or $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from typing import Any

from evtool.results.delivery import delivery_markdown
from evtool.results.report import (
    STAGE_COLUMNS,
    clock_lines,
    collector_line,
    count_sparkline,
    fmt_latency,
    fmt_ms,
    fmt_slo_actual,
    percentile_sparkline,
    sparkline,
    stage_rows,
    transport_lines,
)
from evtool.results.stats import PERCENTILE_NAMES

__all__ = ["render_markdown", "sparkline"]  # sparkline: report.sparkline, kept importable from here

_ICON = {"PASS": "✅", "FAIL": "❌", "NOT_MEASURABLE": "⚠️", "INCOMPLETE": "⛔"}
def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_markdown(doc: dict[str, Any]) -> str:
    counts = doc["counts"]
    headline = doc.get("verdict_line", doc["verdict"].replace("_", " "))
    lines = [
        f"## {_ICON[doc['verdict']]} Latency report: {headline}",
        "",
        f"Target **{fmt_ms(doc['target_ms'])}** · {counts['scheduled']} events scheduled"
        + (f" over {doc['duration_s']:.1f} s" if doc["duration_s"] is not None else "")
        + f" · {len(doc['runs'])} run director{'y' if len(doc['runs']) == 1 else 'ies'}",
        "",
    ]
    transports = transport_lines(doc)
    if transports:
        lines += [f"- {line.strip()}" for line in transports] + [""]
    clocks = clock_lines(doc)
    if clocks:
        lines += [f"- {line.strip()}" for line in clocks] + [""]
    if doc["end_to_end_source"] == "ack":
        lines += ["> **No collector:** end-to-end latency below is acknowledgement latency.", ""]
    for reason in doc.get("incomplete", []):
        lines.append(f"> ⛔ Incomplete: {reason}")
    for reason in doc["not_measurable"]:
        lines.append(f"> ⚠️ Not measurable: {reason}")
    if doc["not_measurable"] or doc.get("incomplete"):
        lines.append("")
    if (doc.get("objectives") or {}).get("description"):
        lines += [f"Default objectives: {doc['objectives']['description']}", ""]
    lines += [_row(["Objective", "Actual", "Result"]), _row(["---", "---:", ":---:"])]
    for slo in doc["slos"]:
        result = "–" if slo["passed"] is None else ("pass" if slo["passed"] else "**FAIL**")
        lines.append(_row([f"`{slo['slo']}`", fmt_slo_actual(slo), result]))
    lines += ["", _row(["Latency", "count", *PERCENTILE_NAMES]), _row(["---", *["---:"] * 7])]
    names = {"end_to_end": "end-to-end", "ack": "ack", "service": "service time",
             "scheduling_lag": "scheduling lag"}
    for key, label in names.items():
        d = doc["latency_ms"][key]
        lines.append(_row([label, str(d["count"]), *[fmt_latency(d, p) for p in PERCENTILE_NAMES]]))
    share = doc["within_target_share"]
    lines += [
        "",
        _row(["ok", "failed", "dropped", "aborted", "lost", f"within {fmt_ms(doc['target_ms'])}",
              "results matching no event", "duplicate results"]),
        _row(["---:"] * 8),
        _row([str(counts["ok"]), str(counts["failed"]), str(counts["dropped"]),
              str(counts.get("aborted", 0)), str(counts["lost"]),
              f"{share:.3%}" if share is not None else "–", str(counts["unmatched_results"]),
              str(counts["duplicate_results"])]),
    ]
    if doc.get("failures"):
        lines += ["", "**Failures by reason**", ""] + [f"- {f['line']}" for f in doc["failures"]]
    collected = collector_line(doc)
    if collected:
        lines += ["", collected]
    if doc.get("stages"):
        lines += ["", "**Stages**", "", _row([c.capitalize() for c in STAGE_COLUMNS]),
                  _row(["---", "---:", "---:", "---:", "---"])]
        lines += [_row(row) for row in stage_rows(doc)]
        lines += ["", f"_{doc['stages_note']}_"]
    if len(doc["by_type"]) > 1:
        lines += ["", "<details><summary>Per event type</summary>", "",
                  _row(["type", "version", "events", "results", "lost", "failed", "p50", "p99", "max"]),
                  _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"])]
        for g in doc["by_type"]:
            c, lat = g["counts"], g["latency_ms"]
            lines.append(_row([g["type"], str(g["schema_version"]), str(c["scheduled"]),
                               str(c.get("results") or 0), str(c["lost"]), str(c["failed"]),
                               *[fmt_latency(lat, p) for p in ("p50", "p99", "max")]]))
        lines += ["", "</details>"]
    if doc["windows"]:
        line, legend = percentile_sparkline(doc)
        lines += ["", f"p99 over time ({doc['window_s']:g} s windows): `{line}`"
                  + (f" ({legend})" if legend else "")]
    if doc["distribution"]:
        bins = doc["distribution"]
        lines += ["", f"End-to-end distribution: {fmt_ms(bins[0]['from_ms'])} "
                  f"`{count_sparkline([float(b['count']) for b in bins])}` {fmt_ms(bins[-1]['to_ms'])}"]
    if doc["baseline"]:
        lines += ["", "**Against baseline**", "", _row(["", "baseline", "now", "change"]),
                  _row(["---", "---:", "---:", "---:"])]
        for name, delta in doc["baseline"]["percentiles"].items():
            change = "–" if delta["delta_ms"] is None else f"{delta['delta_ms']:+.1f} ms"
            if delta["ratio"] is not None:
                change += f" ({delta['ratio'] - 1:+.1%})"
            lines.append(_row([name, fmt_ms(delta["baseline_ms"]), fmt_ms(delta["current_ms"]), change]))
    for config in doc.get("configuration", []):
        lines += ["", f"<details><summary>Configuration of <code>{_html(config['run'])}</code></summary>", "",
                  _row(["setting", "value"]), _row(["---", "---"])]
        lines += [_row([item["name"], f"`{item['value']}`" if item["name"] == "command" else item["value"]])
                  for item in config["items"]]
        lines += ["", "</details>"]
    lines += delivery_markdown(doc)
    if doc["notes"]:
        lines += [""] + [f"- {note}" for note in doc["notes"]]
    return "\n".join(lines) + "\n"
