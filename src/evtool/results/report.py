"""The latency report as one plain document (dict of JSON types) that every renderer reads.

Why one document: the JSON output *is* this document, so the terminal, Markdown and HTML
views can never show a number the JSON does not have. Keys are stable: renderers and users'
scripts index them by name; new keys may be added, none renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from evtool.results import histogram as hdr
from evtool.results.delivery import delivery_section, read_audits
from evtool.results.failures import Failure
from evtool.results.runlog import open_run
from evtool.results.slo import Slo, SloReport, describe_defaults, evaluate, parse_slos
from evtool.results.stats import (
    ACK,
    ACK_TO_RESULT,
    ACK_TO_WRITTEN,
    E2E,
    LAG,
    PERCENTILE_NAMES,
    SERVICE,
    WRITTEN_TO_SEEN,
    Distribution,
    LatencyStats,
    baseline_deltas,
    compute_stats,
)

REPORT_FORMAT = 1  # keys are only ever added (counts.aborted, windows[].aborted came later)
HISTOGRAM_BINS_PER_DECADE = 20


def load_stats(
    run_dirs: Sequence[Path],
    *,
    target_ns: int,
    window_ns: int,
    result_timeout_ns: int | None = None,
) -> LatencyStats:
    """Stream every run directory and compute their merged stats (InputError for a non-run).

    The runs are opened, not read whole: the stats keep a few bytes per event, not the records.
    """
    runs = [open_run(Path(d)) for d in run_dirs]
    return compute_stats(
        runs, [Path(d) for d in run_dirs], target_ns=target_ns, window_ns=window_ns,
        result_timeout_ns=result_timeout_ns,
    )


def _slo_actual(result_metric: str, actual: float | None, relative: bool,
                censored: bool = False) -> dict[str, Any]:
    if actual is None:
        return {"actual": None, "unit": None}
    if result_metric == "percentile":
        if censored:  # among lost events: `actual` is the result timeout, the true value is above it
            return {"actual": actual / 1e6, "unit": "ms", "censored": True, "lower_bound_ms": actual / 1e6}
        return {"actual": actual / 1e6, "unit": "ms"}
    if result_metric == "within" or relative:
        return {"actual": actual, "unit": "share"}
    return {"actual": int(actual), "unit": "count"}


def log_histogram(stats: LatencyStats) -> list[dict[str, Any]]:
    """End-to-end counts in logarithmic ms bins (20 per decade), for plots and sparklines."""
    histogram = stats.histograms[E2E]
    counts = hdr.counts_view(histogram)
    nonzero = np.flatnonzero(counts)
    if not len(nonzero):
        return []
    layout = hdr.Layout.of(histogram)
    lowest_ms = layout.lowest_values()[:-1] / 1000.0
    values = np.maximum(lowest_ms[nonzero], 1e-3)
    bins = np.floor(np.log10(values) * HISTOGRAM_BINS_PER_DECADE).astype(np.int64)
    lo, hi = int(bins.min()), int(bins.max())
    sums = np.bincount(bins - lo, weights=counts[nonzero].astype(np.float64), minlength=hi - lo + 1)
    return [
        {
            "from_ms": round(10 ** ((lo + i) / HISTOGRAM_BINS_PER_DECADE), 6),
            "to_ms": round(10 ** ((lo + i + 1) / HISTOGRAM_BINS_PER_DECADE), 6),
            "count": int(n),
        }
        for i, n in enumerate(sums.tolist())
    ]


def _latency(d: Distribution) -> dict[str, Any]:
    """One distribution's JSON: percentiles (a censored one holds its lower bound, and is named)."""
    return {"count": d.count, "mean": d.mean_ms, **d.percentiles_ms, "censored": list(d.censored),
            "lower_bound_ms": d.lower_bound_ms, "censored_count": d.censored_count}


# (metric, from, to, clocks): the way from intended time to the result, one stage a row
STAGES: tuple[tuple[str, str, str, str], ...] = (
    (LAG, "intended", "sent", "this host"),
    (SERVICE, "sent", "acked", "this host"),
    (ACK, "intended", "acked", "this host"),
    (ACK_TO_RESULT, "acked", "result seen", "this host"),
    (ACK_TO_WRITTEN, "acked", "result written", "this host → broker"),
    (WRITTEN_TO_SEEN, "result written", "result seen", "broker → this host"),
    (E2E, "intended", "result seen", "this host"),
)
LATENCIES = (E2E, ACK, SERVICE, LAG)  # `latency_ms` (the stages after the ack are in `stages`)
_RESULT_STAGES = (ACK_TO_RESULT, ACK_TO_WRITTEN, WRITTEN_TO_SEEN, E2E)
_TWO_CLOCK_STAGES = (ACK_TO_WRITTEN, WRITTEN_TO_SEEN)
STAGES_NOTE = "each stage is a distribution of its own: percentiles of stages do not add up to end-to-end"
TWO_CLOCKS_NOTE = ("stages between the broker's timestamp and this host's clock are approximate (the clocks' "
                   "offset shifts them; a negative difference counts as 0)")


def _stages(stats: LatencyStats) -> list[dict[str, Any]]:
    """p50 / p99 of each stage the run can show: with results, those after the ack too; the
    result-written split only where results carry their broker timestamp."""
    out = []
    for metric, start, end, clocks in STAGES:
        d = stats.distributions.get(metric)
        if d is None:
            continue
        if metric in _RESULT_STAGES and stats.end_to_end_source != "result":
            continue
        if metric in _TWO_CLOCK_STAGES and not d.count:
            continue
        out.append({"stage": f"{start} → {end}", "metric": metric, "from": start, "to": end,
                    "clocks": clocks, "approximate": metric in _TWO_CLOCK_STAGES, "count": d.count,
                    "p50_ms": d.percentiles_ms["p50"], "p99_ms": d.percentiles_ms["p99"],
                    "censored": list(d.censored), "lower_bound_ms": d.lower_bound_ms})
    return out


def _failure(f: Failure) -> dict[str, Any]:
    return {"outcome": f.outcome, "reason": f.reason, "http_status": f.http_status, "detail": f.detail,
            "text": f.text, "count": f.count, "line": f.line}


def build_document(
    stats: LatencyStats,
    slos: Sequence[Slo] | None = None,
    *,
    baseline: LatencyStats | None = None,
    baseline_dirs: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything the report says, as JSON types with stable keys; no `slos`: the default objectives."""
    default = slos is None
    objectives = parse_slos(None, stats.target_ns) if slos is None else slos
    verdict: SloReport = evaluate(objectives, stats, default_objectives=default,
                                  audits=read_audits([r.path for r in stats.runs]))
    counts = asdict(stats.counts)
    doc: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "verdict": verdict.verdict.value,
        "exit_code": int(verdict.exit_code),
        "not_measurable": verdict.not_measurable,
        "target_ms": stats.target_ns / 1e6,
        "end_to_end_source": stats.end_to_end_source,
        "window_s": stats.window_ns / 1e9,
        "duration_s": stats.duration_s,
        "runs": [asdict(r) for r in stats.runs],
        "counts": counts,
        "within_target_share": stats.within_target_share,
        "reasons": stats.reasons,
        "latency_ms": {name: _latency(stats.distributions[name]) for name in LATENCIES},
        "slos": [
            {
                "slo": r.slo.text,
                "passed": r.passed,
                **_slo_actual(r.slo.metric, r.actual, r.slo.relative, r.censored),
            }
            for r in verdict.results
        ],
        "by_type": [
            {
                "type": g.event_type,
                "schema_version": g.schema_version,
                "counts": asdict(g.counts),
                "latency_ms": _latency(g.end_to_end),
            }
            for g in stats.by_type
        ],
        "windows": [
            {
                "start_ns": w.start_ns,
                "scheduled": w.scheduled,
                "ok": w.ok,
                "failed": w.failed,
                "dropped": w.dropped,
                "aborted": w.aborted,
                "lost": w.lost,
                "latency_ms": w.end_to_end_ms,
                "censored": list(w.censored),
            }
            for w in stats.windows
        ],
        "distribution": log_histogram(stats),
        "hdr_histograms": {
            name: h.encode().decode("ascii") if h.get_total_count() else None  # HdrHistogram.decode()
            for name, h in stats.histograms.items() if name in LATENCIES
        },
        "baseline": None,
        "notes": stats.notes,
        # added in this order after the keys above (renderers and scripts index them by name)
        "verdict_line": verdict.headline,  # the verdict and what it was judged on, as every view shows it
        "verdict_basis": verdict.basis.value,  # "results", or "acknowledgements" (no results collected)
        "incomplete": verdict.incomplete,  # why the run cannot stand behind its numbers (INCOMPLETE)
        "objectives": {
            "default": default,
            "description": describe_defaults(stats.target_ns, verdict.basis) if default else None,
        },
        "result_timeout_ms": stats.result_timeout_ns / 1e6 if stats.result_timeout_ns is not None else None,
        # why events failed / were dropped / were aborted, in words, most events first
        "failures": [_failure(f) for f in stats.failures],
        # the collectors' own counts (collector-<i>.json), None without one
        "collector": stats.collector,
        "stages": _stages(stats),
        "stages_note": None,
        "delivery": delivery_section([r.path for r in stats.runs]),  # `evtool audit` (audit.json), or None
    }
    two_clocks = any(stage["approximate"] for stage in doc["stages"])
    doc["stages_note"] = f"{STAGES_NOTE}; {TWO_CLOCKS_NOTE}" if two_clocks else STAGES_NOTE
    if baseline is not None:
        doc["baseline"] = {
            "runs": list(baseline_dirs),
            "percentiles": baseline_deltas(stats, baseline),
            "counts": asdict(baseline.counts),
        }
    return doc


def render_json(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def fmt_ms(value: float | None) -> str:
    """Milliseconds for people: 0.42 ms, 12.3 ms, 1 234 ms -> '1.23 s'."""
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def fmt_latency(latency: dict[str, Any], name: str) -> str:
    """One percentile of a `latency_ms` entry: "> 5.00 s" when it falls among censored values."""
    if name in latency.get("censored", ()):
        return "> " + fmt_ms(latency["lower_bound_ms"])
    return fmt_ms(latency[name])


def fmt_slo_actual(entry: dict[str, Any]) -> str:
    actual = entry["actual"]
    if actual is None:
        return "no data"
    if entry.get("censored"):
        return "> " + fmt_ms(entry["lower_bound_ms"])
    if entry["unit"] == "ms":
        return fmt_ms(actual)
    if entry["unit"] == "share":
        return f"{actual:.3%}"
    return str(actual)


def transport_lines(doc: dict[str, Any]) -> list[str]:
    """What each run sent to, as every view shows it: transport, target, topic, partitions, settings."""
    lines = []
    for run in doc["runs"]:
        transport = run.get("transport") or "?"
        line = f"{transport} → {run['target']}"
        if run.get("topic"):
            line += f" · topic {run['topic']}"
        partitions = run.get("partitions") or {}
        if partitions:
            line += f" · {len(partitions)} partition(s) touched: " + ", ".join(
                f"{p}: {n}" for p, n in partitions.items())
        lines.append(line)
        settings = {k: v for k, v in (run.get("settings") or {}).items()
                    if k not in ("transport", "topic") and v not in (None, "", {}, [])}
        if settings:
            lines.append("  settings: " + _settings_text(settings))
    return lines


def _settings_text(settings: dict[str, Any]) -> str:
    parts = []
    for key, value in settings.items():
        if isinstance(value, dict):
            parts += [f"{k}={v}" for k, v in value.items()]
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


STAGE_COLUMNS = ("stage", "count", "p50", "p99", "clocks")


def stage_rows(doc: dict[str, Any]) -> list[list[str]]:
    """The stage table's cells (STAGE_COLUMNS), as every view shows them."""
    rows = []
    for st in doc.get("stages", []):
        latency = {"p50": st["p50_ms"], "p99": st["p99_ms"], "censored": st["censored"],
                   "lower_bound_ms": st["lower_bound_ms"]}
        rows.append([st["stage"], str(st["count"]), fmt_latency(latency, "p50"), fmt_latency(latency, "p99"),
                     st["clocks"] + (" (approximate)" if st["approximate"] else "")])
    return rows


def collector_line(doc: dict[str, Any]) -> str | None:
    """The collectors' counts in one line; duplicates and foreign results are not losses."""
    c = doc.get("collector")
    if not c:
        return None
    line = f"collector: {c['results']} results"
    if c.get("matched_to_run"):
        line += (f" = matched {c['matched']} + unacked {c['unacked']} + duplicates {c['duplicates']}"
                 f" + foreign {c['foreign']} (duplicates and foreign are not lost events)")
    line += f"; uncorrelated {c['uncorrelated']}, unreadable {c['unreadable']}"
    if c.get("rejected"):
        line += "; rejected " + ", ".join(f"{k}: {n}" for k, n in c["rejected"].items())
    if c.get("problems"):
        line += "; problems " + ", ".join(f"{k}: {n}" for k, n in c["problems"].items())
    return line


__all__ = [
    "PERCENTILE_NAMES",
    "STAGES",
    "STAGE_COLUMNS",
    "build_document",
    "collector_line",
    "fmt_latency",
    "fmt_ms",
    "fmt_slo_actual",
    "load_stats",
    "log_histogram",
    "render_json",
    "stage_rows",
    "transport_lines",
]
