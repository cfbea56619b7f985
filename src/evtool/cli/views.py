"""Views shared by several commands: the end-of-run summary and the report (the live view: live_view).

Command modules never import one another; what two of them render the same way lives here.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from evtool.errors import InputError

if TYPE_CHECKING:
    from evtool.load.runner import RunSummary



def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def print_run_summary(console: Console, s: RunSummary) -> None:
    state = "interrupted" if s.interrupted else "done"
    console.print(
        f"{state}: scheduled {s.scheduled} = acked {s.ok} + failed {s.failed} + dropped {s.dropped} "
        f"+ aborted {s.aborted}; achieved {s.achieved_rate:.1f}/s; "
        f"ack p50 {_ms(s.ack_p50_ms)} p99 {_ms(s.ack_p99_ms)}; send lag p99 {_ms(s.lag_p99_ms)}",
        markup=False,
    )
    for failure in s.failures:
        console.print(failure, markup=False)
    for note in s.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"run: {s.run_dir}", markup=False)


_VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "NOT_MEASURABLE": "bold yellow",
                  "INCOMPLETE": "bold magenta"}
_LABELS = {"end_to_end": "end-to-end", "ack": "ack", "service": "service time",
           "scheduling_lag": "scheduling lag"}
_CELL_STYLE = {"pass": "green", "FAIL": "red"}


def emit_table(console: Console, title: str | None, columns: list[tuple[str, str]],
               rows: list[list[str]]) -> None:
    """A table that never cuts a cell: drawn when it fits the console, otherwise one line per row.

    `columns` are (header, "left" | "right"). On a terminal the table has a frame; outside one
    (a pipe, a CI log, a file) it is aligned plain text. When the whole table is wider than the
    console, every row becomes one line, `first cell: header value · header value ...`, so a
    value and its unit stay together and nothing is replaced by an ellipsis.
    """
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, (h, _) in enumerate(columns)]
    terminal = console.is_terminal
    natural = sum(widths) + (3 * len(widths) + 1 if terminal else 2 * (len(widths) - 1))
    if natural > console.width:
        if title:
            console.print(f"{title}:", markup=False, soft_wrap=True)
        for row in rows:
            fields = [f"{h} {c}" if h else c for (h, _), c in zip(columns[1:], row[1:], strict=True)]
            label = f"{columns[0][0]} {row[0]}" if columns[0][0] and not title else row[0]
            console.print(f"  {label}: " + " · ".join(fields), markup=False, soft_wrap=True,
                          highlight=False)
        return
    if terminal:
        table = Table(show_header=True, header_style="bold", title=title)
        for header, justify in columns:
            table.add_column(header, justify="right" if justify == "right" else "left", no_wrap=True)
        for row in rows:
            table.add_row(*[Text(c, style=_CELL_STYLE.get(c, "")) for c in row])
        console.print(table)
        return
    if title:
        console.print(title, markup=False, soft_wrap=True)
    for cells in [[h for h, _ in columns], *rows]:
        line = "  ".join(c.rjust(w) if j == "right" else c.ljust(w)
                         for c, w, (_, j) in zip(cells, widths, columns, strict=True))
        console.print(line.rstrip(), markup=False, soft_wrap=True, highlight=False)


def render_report_text(doc: dict[str, Any], console: Console) -> None:
    """The terminal view of a latency report: verdict, objectives, percentiles, counts, sparklines,
    the run's configuration, the delivery audit. Outside a terminal every line is whole (no wrapping
    inside a line, tables become lines when narrow), so a CI log or a pipe at any width keeps every value."""
    from evtool.results.delivery import delivery_lines
    from evtool.results.report import (
        STAGE_COLUMNS,
        clock_lines,
        collector_line,
        count_sparkline,
        fmt_latency,
        fmt_ms,
        fmt_slo_actual,
        percentile_sparkline,
        stage_rows,
        transport_lines,
    )
    from evtool.results.stats import PERCENTILE_NAMES

    def say(text: str, style: str = "") -> None:
        console.print(Text(text, style=style), soft_wrap=not console.is_terminal)

    counts = doc["counts"]
    verdict = doc["verdict"]
    word = verdict.replace("_", " ")
    headline = doc.get("verdict_line", word)
    console.print(Text.assemble((word, _VERDICT_STYLE[verdict]), headline[len(word):],
                                f"  target {fmt_ms(doc['target_ms'])} · {counts['scheduled']} events · "
                                f"{len(doc['runs'])} run dir(s)"), soft_wrap=not console.is_terminal)
    for line in transport_lines(doc):
        say(line)
    for line in clock_lines(doc):
        say(line)
    if doc["end_to_end_source"] == "ack":
        say("no collector: end-to-end latency is acknowledgement latency", "yellow")
    for reason in doc.get("incomplete", []):
        say(f"incomplete: {reason}", "magenta")
    for reason in doc["not_measurable"]:
        say(f"not measurable: {reason}", "yellow")
    if (doc.get("objectives") or {}).get("description"):
        say(f"default objectives: {doc['objectives']['description']}")
    emit_table(console, None, [("objective", "left"), ("actual", "right"), ("", "left")],
               [[s["slo"], fmt_slo_actual(s),
                 "–" if s["passed"] is None else ("pass" if s["passed"] else "FAIL")] for s in doc["slos"]])
    emit_table(console, "latency",
               [("", "left"), ("count", "right"), *[(p, "right") for p in PERCENTILE_NAMES]],
               [[label, str(doc["latency_ms"][key]["count"]),
                 *[fmt_latency(doc["latency_ms"][key], p) for p in PERCENTILE_NAMES]]
                for key, label in _LABELS.items()])
    if doc.get("stages"):
        emit_table(console, "stages", [(c, "left" if c in ("stage", "clocks") else "right")
                                       for c in STAGE_COLUMNS], stage_rows(doc))
        say(doc["stages_note"], "dim")
    share = doc["within_target_share"]
    say(f"ok {counts['ok']} · failed {counts['failed']} · dropped {counts['dropped']} · aborted "
        f"{counts.get('aborted', 0)} · lost {counts['lost']}"
        f" · within {fmt_ms(doc['target_ms'])}: {f'{share:.3%}' if share is not None else '–'}"
        f" · results {counts['results']} (matching no event {counts['unmatched_results']}, duplicate "
        f"{counts['duplicate_results']}, uncorrelated {counts['uncorrelated_results']}, unreadable "
        f"{counts.get('unreadable_results', 0)})")
    for failure in doc.get("failures", []):
        say(failure["line"], "red")
    collected = collector_line(doc)
    if collected:
        say(collected)
    if doc["distribution"]:
        bins = doc["distribution"]
        console.print(Text.assemble(f"distribution {fmt_ms(bins[0]['from_ms'])} ",
                                    (count_sparkline([float(b["count"]) for b in bins]), "blue"),
                                    f" {fmt_ms(bins[-1]['to_ms'])}"), soft_wrap=not console.is_terminal)
    if len(doc["windows"]) > 1:
        line, legend = percentile_sparkline(doc)
        console.print(Text.assemble(f"p99 over time ({doc['window_s']:g}s windows) ", (line, "magenta"),
                                    f"  {legend}"), soft_wrap=not console.is_terminal)
    if len(doc["by_type"]) > 1:
        names = ("type", "v", "events", "results", "failed", "dropped", "aborted", "lost")
        keys = ("scheduled", "results", "failed", "dropped", "aborted", "lost")
        emit_table(console, "per event type",
                   [(c, "left" if c == "type" else "right") for c in (*names, "p50", "p99", "max")],
                   [[g["type"], str(g["schema_version"]), *[str(g["counts"].get(k) or 0) for k in keys],
                     *[fmt_latency(g["latency_ms"], p) for p in ("p50", "p99", "max")]]
                    for g in doc["by_type"]])
    if doc["baseline"]:
        emit_table(console, "against baseline", [(c, "right") for c in ("", "baseline", "now", "change")],
                   [[name, fmt_ms(d["baseline_ms"]), fmt_ms(d["current_ms"]),
                     "–" if d["delta_ms"] is None else f"{d['delta_ms']:+.1f} ms"]
                    for name, d in doc["baseline"]["percentiles"].items()])
    for config in doc.get("configuration", []):
        say(f"configuration of {config['run']}:" if len(doc["runs"]) > 1 else "configuration:", "bold")
        for item in config["items"]:
            say(f"  {item['name']}: {item['value']}")
    for line in delivery_lines(doc):  # the delivery audit (audit.json), when the run has one
        say(line)
    for note in doc["notes"]:
        say(f"note: {note}", "dim")


def write_text_view(path: Path, render: Callable[[Console], None], *, width: int) -> None:
    """Render a rich view as plain text into `path` (for `--output FILE` with the text format)."""
    console = Console(record=True, width=width, no_color=True, file=io.StringIO(), soft_wrap=True)
    render(console)
    write_atomically(path, console.export_text())


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file, so an earlier report is never left half-overwritten."""
    if path.is_dir():
        raise InputError(f"{path}: cannot write the report: it is a directory; give a file name")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # on a read-only filesystem even this unlink fails (EROFS)
            tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write the report: {exc.strerror or exc}; "
                         "choose a writable place for --output") from None


def announce_seed(seed: int) -> None:
    """On stderr, so it never mixes with events on stdout, and a run can be repeated exactly."""
    typer.echo(f"seed {seed} (repeat with --seed {seed})", err=True)
