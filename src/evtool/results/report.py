"""The latency report as one plain document (dict of JSON types) that every renderer reads.

Why one document: the JSON output *is* this document, so the terminal, Markdown and HTML
views can never show a number the JSON does not have. Keys are stable: renderers and users'
scripts index them by name; new keys may be added, none renamed.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from evtool.results import histogram as hdr
from evtool.results.clock_offset import LOCAL, MAX_BOUND_SHARE, REMOTE, CollectorClock
from evtool.results.delivery import delivery_section, read_audits
from evtool.results.failures import Failure
from evtool.results.runlog import open_run
from evtool.results.slo import (
    Slo,
    SloReport,
    Verdict,
    describe_defaults,
    evaluate,
    parse_slos,
    tightest_latency_ns,
)
from evtool.results.stats import (
    ACK,
    ACK_TO_RESULT,
    ACK_TO_WRITTEN,
    E2E,
    LAG,
    PERCENTILE_NAMES,
    SERVICE,
    WRITTEN_TO_SEEN,
    Counts,
    Distribution,
    LatencyStats,
    baseline_deltas,
    compute_stats,
)

REPORT_FORMAT = 1  # keys are only ever added (counts.aborted, windows[].aborted came later)
# "major.minor": the major is `format`; the minor counts additions (1.1: configuration, span_s,
# windows[].from_s/to_s/span_s, runs[] meta fields, by_type[].counts results filled in)
# 1.2: clocks (each run's collector clock offset and bound), runs[].collector_clock
REPORT_FORMAT_VERSION = "1.2"
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
    remote = any((clock := CollectorClock.from_meta(r.collector_clock)) is not None and clock.kind == REMOTE
                 for r in stats.runs)
    for metric, start, end, stage_clocks in STAGES:
        clocks = stage_clocks
        if remote and clocks == "this host" and end == "result seen":  # seen on the collector's clock
            clocks = "sender → remote collector (offset corrected)"
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


# results a type cannot own: duplicates, results matching no event, unreadable ones (top level only)
_UNATTRIBUTED = ("duplicate_results", "unmatched_results", "uncorrelated_results", "unreadable_results",
                 "shared_keys")


def _type_counts(counts: Counts) -> dict[str, Any]:
    """A type's counts: `results` are its events that got a result (their first); what no type
    owns is null, not a 0 that reads as "none"."""
    out: dict[str, Any] = asdict(counts)
    out.update(dict.fromkeys(_UNATTRIBUTED))
    return out


def _window_span(stats: LatencyStats, start_ns: int) -> dict[str, float]:
    """Which part of the run a window covers, in seconds since the first intended time: windows are
    aligned on wall-clock multiples, so the first and last are usually cut by the run's own span."""
    first = stats.first_intended_ns or 0
    end = first + (stats.span_ns if stats.span_ns is not None else stats.window_ns)
    lo, hi = max(start_ns, first), min(start_ns + stats.window_ns, end)
    return {"from_s": round((lo - first) / 1e9, 9), "to_s": round((max(hi, lo) - first) / 1e9, 9),
            "span_s": round(max(hi - lo, 0) / 1e9, 9)}


# -- the run's configuration, from its meta.json ----------------------------------------------

# (option key, label), in the order a reader asks: what was hit, how hard, with what, how
_OPTION_LABELS: tuple[tuple[str, str], ...] = (
    ("rate", "rate"), ("stages", "stages"), ("arrival", "arrival"), ("duration", "duration"),
    ("count", "count"), ("as_fast_as_possible", "as fast as possible"), ("speed", "speed"),
    ("mix", "mix"), ("flow", "flow"), ("schema_versions", "schema versions"), ("seed", "seed"),
    ("schemas", "schemas"), ("scenario", "scenario"),
    ("mode", "content mode"), ("batch_size", "batch size"), ("headers", "headers"),
    ("timeout", "request timeout"), ("client", "client"), ("retries", "retries"),
    ("max_in_flight", "max in flight"), ("grace", "grace"), ("workers", "workers"),
    ("collect", "collect"), ("correlate_by", "correlate by"), ("result_timeout", "result timeout"),
)
_DEFAULT_SHOWN = {"mix": "default", "schema_versions": "default (latest)"}  # None means a default
_SECRET_WORDS = ("password", "secret", "token", "credential", "api_key", "apikey", "private")
REDACTED = "***"


def _safe_header(text: str) -> str:
    """A header as a report may show it: the name, and the value only as meta.json redacted it
    (`***`) or as an `env:VAR` reference; any other value may be a secret, so it is not shown."""
    name, sep, value = text.partition(":")
    value = value.strip()
    if not sep or value == REDACTED or value.startswith("env:"):
        return text
    return f"{name}: {REDACTED}"


def _safe_property(text: str) -> str:
    """key=value, the value hidden when the key names a secret (sasl.password, ssl.key.password ...)."""
    key, sep, _ = text.partition("=")
    return f"{key}={REDACTED}" if sep and any(w in key.lower() for w in _SECRET_WORDS) else text


def _safe_command(argv: list[str]) -> str:
    out: list[str] = []
    guard: Any = None
    for arg in argv:
        if guard is not None:
            out.append(guard(arg))
            guard = None
            continue
        if arg in ("-H", "--header") or arg == "-X":
            guard = _safe_header if arg != "-X" else _safe_property
            out.append(arg)
        elif arg.startswith("--header="):
            out.append("--header=" + _safe_header(arg[len("--header="):]))
        elif arg.startswith("-X") and len(arg) > 2:
            out.append("-X" + _safe_property(arg[2:]))
        else:
            out.append(arg)
    return shlex.join(out)


def _value_text(key: str, value: Any) -> str:
    if any(w in key.lower() for w in _SECRET_WORDS) and value not in (None, "", REDACTED):
        return REDACTED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value_text(str(k), v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(key, v) for v in value)
    return str(value)


def _redacted_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redacted_value(str(k), v) for k, v in value.items()}
    if key == "headers" and isinstance(value, list):
        return [_safe_header(str(h)) for h in value]
    if any(w in key.lower() for w in _SECRET_WORDS) and value not in (None, "", REDACTED):
        return REDACTED
    return value


def _redacted_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run's entry as the JSON shows it: settings, options and command line with every value that
    may be a secret hidden again (meta.json should hold none; the report does not rely on it)."""
    run["settings"] = _redacted_value("settings", run.get("settings") or {})
    run["options"] = _redacted_value("options", run.get("options") or {})
    run["command"] = shlex.split(_safe_command([str(a) for a in run.get("command") or []]))
    return run


def configuration_items(run: dict[str, Any]) -> list[dict[str, str]]:
    """What a run was asked to do, as name/value pairs every view shows: tool version, target,
    arrival, mix, versions, transport settings, the command line. Secrets never: meta.json holds
    them redacted, and header values and secret-named settings are hidden here again."""
    items: list[tuple[str, str]] = [("tool version", f"evtool {run.get('tool_version') or '?'}")]
    transport = run.get("transport") or ""
    items.append(("target", f"{run.get('target', '?')}" + (f" ({transport})" if transport else "")))
    options = dict(run.get("options") or {})
    options.pop("target", None)
    for key, label in _OPTION_LABELS:
        value = options.pop(key, None)
        if key == "headers":
            value = [_safe_header(str(h)) for h in value or []]
        if value in (None, "", [], {}) or value is False:
            if key in _DEFAULT_SHOWN and run.get("command", [""])[1:2] == ["simulate"]:
                items.append((label, _DEFAULT_SHOWN[key]))
            continue
        items.append((label, _value_text(key, value)))
    for key, value in options.items():  # options this list does not know yet (newer commands)
        if key == "headers" or value in (None, "", [], {}) or value is False:
            continue
        items.append((key.replace("_", " "), _value_text(key, value)))
    if run.get("result_timeout_ms") is not None and "result_timeout" not in (run.get("options") or {}):
        items.append(("result timeout", fmt_ms(run["result_timeout_ms"])))
    settings = {k: v for k, v in (run.get("settings") or {}).items() if v not in (None, "", {}, [])}
    if settings:
        items.append(("transport settings", _value_text("settings", settings)))
    span = " → ".join(t for t in (run.get("started_at"), run.get("ended_at") or "not ended") if t)
    items.append(("ran", span + (f" on {run['host']}" if run.get("host") else "")))
    if run.get("command"):
        items.append(("command", _safe_command([str(a) for a in run["command"]])))
    return [{"name": name, "value": value} for name, value in items]


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
    headline = verdict.headline
    aborted = [r.aborted_by for r in stats.runs if r.aborted_by]
    if aborted and verdict.verdict is not Verdict.INCOMPLETE:  # --abort-on-fail: the run's objective was lost
        verdict = replace(verdict, verdict=Verdict.FAIL)
        headline = f"FAIL (aborted by objective {aborted[0]})"
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
        "runs": [_redacted_run(asdict(r)) for r in stats.runs],
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
                "counts": _type_counts(g.counts),
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
                **_window_span(stats, w.start_ns),  # format_version 1.1
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
        "verdict_line": headline,  # the verdict and what it was judged on, as every view shows it
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
        # format_version 1.1: how long the schedule ran, and how each run was configured
        "format_version": REPORT_FORMAT_VERSION,
        "span_s": stats.span_ns / 1e9 if stats.span_ns is not None else None,
        "configuration": [{"run": r.path, "items": configuration_items(asdict(r))} for r in stats.runs],
        "delivery": delivery_section([r.path for r in stats.runs]),  # `evtool audit` (audit.json), or None
        # format_version 1.2: the clock each run's results were stamped on, the offset corrected and its
        # bound (results.clock_offset); None when no run recorded one (no collector, or an older run)
        "clocks": clock_section(stats, tightest_latency_ns(objectives, stats.target_ns)),
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


def clock_section(stats: LatencyStats, limit_ns: int) -> dict[str, Any] | None:
    """Per run: the clock its results were stamped on, the offset corrected for and its bound (ms)."""
    entries = []
    for run in stats.runs:
        clock = CollectorClock.from_meta(run.collector_clock)
        if clock is None:
            continue
        entries.append({
            "run": run.path, "kind": clock.kind, "collector": clock.collector,
            "offset_ms": clock.offset_ns / 1e6 if clock.offset_ns is not None else None,
            "bound_ms": clock.bound_ns / 1e6 if clock.bound_ns is not None else None,
            "samples": clock.samples,
            "drift_ms": clock.drift_ns / 1e6 if clock.drift_ns is not None else None,
            "same_host": clock.same_host, "error": clock.error,
            "corrected": clock.kind == REMOTE and clock.offset_ns is not None,
            "line": clock.describe(),
        })
    if not entries:
        return None
    return {
        "runs": entries,
        "max_bound_ms": limit_ns * MAX_BOUND_SHARE / 1e6,
        "rule": f"not measurable when a remote collector's offset is unknown, or its bound exceeds "
                f"{MAX_BOUND_SHARE:.0%} of the tightest latency judged ({limit_ns / 1e6:g} ms)",
    }


def clock_lines(doc: dict[str, Any]) -> list[str]:
    """The clock lines every view shows: only when a remote collector was involved (else nothing to say)."""
    clocks = doc.get("clocks")
    if not clocks or all(entry["kind"] == LOCAL for entry in clocks["runs"]):
        return []
    many = len(doc["runs"]) > 1
    lines = [f"clock: {entry['run'] + ': ' if many else ''}{entry['line']}" for entry in clocks["runs"]
             if entry["kind"] != LOCAL]
    corrected = any(entry["corrected"] for entry in clocks["runs"])
    lines.append(("  sender times moved onto the collector's clock by the offset; " if corrected else "  ")
                 + clocks["rule"])
    return lines


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
    for key, value in _redacted_value("settings", settings).items():
        if isinstance(value, dict):
            parts += [f"{k}={v}" for k, v in value.items()]
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


# -- sparklines: the same characters in the terminal and in Markdown ----------------------------

SPARK = "▁▂▃▄▅▆▇█"
NO_EVENTS = "·"  # no event was scheduled in the window (a pause, a 0/s stage)
NO_RESULT = "×"  # events, but not one latency: every one failed, was dropped or aborted
ABOVE_TIMEOUT = "▲"  # the percentile lies among lost events: above the result timeout, off the scale
_MARK_MEANING = {NO_RESULT: "no latency: every event failed, was dropped or aborted",
                 ABOVE_TIMEOUT: "above the result timeout (lost events): off the scale",
                 NO_EVENTS: "no events scheduled"}


def sparkline(values: Sequence[float | None]) -> str:
    """Eight-level bars scaled to the largest value; None (nothing measured) is a gap, never the
    lowest bar, which would read as the best value."""
    top = max((v for v in values if v is not None), default=0.0)
    if top <= 0:
        return "".join(" " if v is None or v <= 0 else SPARK[0] for v in values)
    return "".join(" " if v is None else SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))]
                   for v in values)


def count_sparkline(counts: Sequence[float]) -> str:
    """Counts (a histogram): an empty bin is a gap, the smallest count still a bar."""
    top = max(counts, default=0.0)
    if top <= 0:
        return ""
    return "".join(" " if c <= 0 else SPARK[min(len(SPARK) - 1, int(c / top * (len(SPARK) - 1) + 0.5))]
                   for c in counts)


def window_state(w: dict[str, Any], name: str = "p99") -> str:
    """"value", or which marker a window's percentile is drawn with (NO_EVENTS, NO_RESULT, ABOVE_TIMEOUT)."""
    if not w["scheduled"]:
        return NO_EVENTS
    if name in w.get("censored", ()):
        return ABOVE_TIMEOUT
    if w["latency_ms"][name] is None:
        return NO_RESULT
    return "value"


def percentile_sparkline(doc: dict[str, Any], name: str = "p99") -> tuple[str, str]:
    """(sparkline, legend) of one end-to-end percentile over the run's windows: windows without a
    value are markers of their own (named in the legend), measured ones bars on the measured scale."""
    windows = doc["windows"]
    states = [window_state(w, name) for w in windows]
    measured = [w["latency_ms"][name] if s == "value" else None for w, s in zip(windows, states, strict=True)]
    bars = sparkline(measured)
    line = "".join(bar if state == "value" else state for bar, state in zip(bars, states, strict=True))
    values = [v for v in measured if v is not None]
    legend = []
    if values:
        low, high = min(values), max(values)
        legend.append(f"{SPARK[-1]} {fmt_ms(high)}" if low == high else
                      f"{SPARK[0]} {fmt_ms(low)} … {SPARK[-1]} {fmt_ms(high)}")
    legend += [f"{mark} {meaning}" for mark, meaning in _MARK_MEANING.items() if mark in states]
    return line, "; ".join(legend)


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
    "configuration_items",
    "count_sparkline",
    "fmt_latency",
    "fmt_ms",
    "fmt_slo_actual",
    "load_stats",
    "log_histogram",
    "percentile_sparkline",
    "render_json",
    "sparkline",
    "stage_rows",
    "transport_lines",
]
