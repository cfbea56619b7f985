"""Views shared by several commands: the live run display and the end-of-run summary.

Command modules never import one another; what two of them render the same way lives here.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from evtool.errors import InputError

if TYPE_CHECKING:
    from evtool.load.live import Snapshot
    from evtool.load.runner import RunSummary

PLAIN_INTERVAL_S = 1.0


@contextlib.contextmanager
def snapshot_view(console: Console, *, quiet: bool) -> Iterator[Callable[[Snapshot], None] | None]:
    """A callback for a run's snapshots: a live table on a terminal, a plain line a second in CI
    logs, nothing when quiet."""
    if quiet:
        yield None
        return
    if not console.is_terminal:
        last = [0.0]

        def plain(snapshot: Snapshot) -> None:
            now = time.monotonic()
            if now - last[0] >= PLAIN_INTERVAL_S and not snapshot.finished:
                last[0] = now
                console.print(_plain_line(snapshot), markup=False)

        yield plain
        return
    with Live(Text("starting…"), console=console, refresh_per_second=4, transient=True) as live:
        yield lambda s: live.update(_table(s), refresh=False)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _plain_line(s: Snapshot) -> str:
    left = f" left {s.time_left_s:.0f}s" if s.time_left_s is not None else ""
    behind = " BEHIND SCHEDULE" if s.behind else ""
    return (
        f"t={s.elapsed_s:.1f}s rate {s.achieved_rate:.0f}/{s.target_rate:.0f} per s in-flight {s.in_flight} "
        f"ok {s.ok} failed {s.failed} dropped {s.dropped} aborted {s.aborted} "
        f"ack p50 {_ms(s.ack_p50_ms)} p99 {_ms(s.ack_p99_ms)} lag p99 {_ms(s.lag_p99_ms)}{left}{behind}"
    )


def _table(s: Snapshot) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("rate", f"{s.achieved_rate:,.0f}/s achieved  (target {s.target_rate:,.0f}/s)")
    table.add_row("in flight", f"{s.in_flight:,}")
    table.add_row(
        "events",
        f"[green]ok {s.ok:,}[/]  [red]failed {s.failed:,}[/]  [yellow]dropped {s.dropped:,}[/]  "
        f"aborted {s.aborted:,}  (scheduled {s.scheduled:,})",
    )
    table.add_row(
        "ack latency", f"p50 {_ms(s.ack_p50_ms)}  p99 {_ms(s.ack_p99_ms)}  (last second, from intended)"
    )
    lag = f"p99 {_ms(s.lag_p99_ms)}"
    if s.behind:
        lag += "  [bold red]sender behind schedule: this process is the bottleneck[/]"
    table.add_row("send lag", lag)
    elapsed = f"{s.elapsed_s:.1f}s"
    if s.time_left_s is not None:
        elapsed += f"  ({s.time_left_s:.0f}s left)"
    table.add_row("elapsed", elapsed)
    return table


def print_run_summary(console: Console, s: RunSummary) -> None:
    state = "interrupted" if s.interrupted else "done"
    console.print(
        f"{state}: scheduled {s.scheduled} = ok {s.ok} + failed {s.failed} + dropped {s.dropped} "
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


def render_report_text(doc: dict[str, Any], console: Console) -> None:
    """The terminal view of a latency report: verdict, objectives, percentiles, counts, sparklines."""
    from evtool.results.delivery import delivery_lines
    from evtool.results.render_markdown import sparkline
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

    counts = doc["counts"]
    verdict = doc["verdict"]
    word = verdict.replace("_", " ")
    headline = doc.get("verdict_line", word)
    console.print(f"[{_VERDICT_STYLE[verdict]}]{word}[/]{escape(headline[len(word):])}  target "
                  f"{fmt_ms(doc['target_ms'])} · {counts['scheduled']} events · "
                  f"{len(doc['runs'])} run dir(s)")
    for line in transport_lines(doc):
        console.print(escape(line))
    if doc["end_to_end_source"] == "ack":
        console.print("[yellow]no collector: end-to-end latency is acknowledgement latency[/]")
    for reason in doc.get("incomplete", []):
        console.print(f"[magenta]incomplete:[/] {escape(reason)}")
    for reason in doc["not_measurable"]:
        console.print(f"[yellow]not measurable:[/] {escape(reason)}")
    if (doc.get("objectives") or {}).get("description"):
        console.print(f"default objectives: {escape(doc['objectives']['description'])}")
    slos = Table(box=None, show_header=True, header_style="bold")
    slos.add_column("objective")
    slos.add_column("actual", justify="right")
    slos.add_column("")
    for s in doc["slos"]:
        mark = "[dim]–[/]" if s["passed"] is None else ("[green]pass[/]" if s["passed"] else "[red]FAIL[/]")
        slos.add_row(escape(s["slo"]), fmt_slo_actual(s), mark)
    console.print(slos)
    table = Table(show_header=True, header_style="bold", title="latency")
    table.add_column("", no_wrap=True)
    table.add_column("count", justify="right")
    for name in PERCENTILE_NAMES:
        table.add_column(name, justify="right")
    for key, label in _LABELS.items():
        d = doc["latency_ms"][key]
        table.add_row(label, str(d["count"]), *[fmt_latency(d, p) for p in PERCENTILE_NAMES])
    console.print(table)
    if doc.get("stages"):
        stages = Table(show_header=True, header_style="bold", title="stages")
        for column in STAGE_COLUMNS:
            stages.add_column(column, justify="left" if column in ("stage", "clocks") else "right")
        for row in stage_rows(doc):
            stages.add_row(*[escape(cell) for cell in row])
        console.print(stages)
        console.print(f"[dim]{escape(doc['stages_note'])}[/]")
    share = doc["within_target_share"]
    console.print(
        f"ok {counts['ok']} · failed {counts['failed']} · dropped {counts['dropped']} · aborted "
        f"{counts.get('aborted', 0)} · lost {counts['lost']}"
        f" · within {fmt_ms(doc['target_ms'])}: {f'{share:.3%}' if share is not None else '–'}"
        f" · results {counts['results']} (matching no event {counts['unmatched_results']}, duplicate "
        f"{counts['duplicate_results']}, uncorrelated {counts['uncorrelated_results']}, unreadable "
        f"{counts.get('unreadable_results', 0)})"
    )
    for failure in doc.get("failures", []):
        console.print(f"[red]{escape(failure['line'])}[/]")
    collected = collector_line(doc)
    if collected:
        console.print(escape(collected))
    if doc["distribution"]:
        bins = doc["distribution"]
        console.print(f"distribution {fmt_ms(bins[0]['from_ms'])} "
                      f"[blue]{sparkline([float(b['count']) for b in bins])}[/] {fmt_ms(bins[-1]['to_ms'])}")
    if len(doc["windows"]) > 1:
        p99 = [w["latency_ms"]["p99"] or 0.0 for w in doc["windows"]]
        console.print(f"p99 over time ({doc['window_s']:g}s) [magenta]{sparkline(p99)}[/] "
                      f"max {fmt_ms(max(p99))}")
    if len(doc["by_type"]) > 1:
        per = Table(show_header=True, header_style="bold", title="per event type")
        for column in ("type", "v", "events", "failed", "dropped", "aborted", "lost", "p50", "p99", "max"):
            per.add_column(column, justify="left" if column == "type" else "right")
        for g in doc["by_type"]:
            c, lat = g["counts"], g["latency_ms"]
            per.add_row(escape(g["type"]), str(g["schema_version"]), str(c["scheduled"]), str(c["failed"]),
                        str(c["dropped"]), str(c.get("aborted", 0)), str(c["lost"]),
                        *[fmt_latency(lat, p) for p in ("p50", "p99", "max")])
        console.print(per)
    if doc["baseline"]:
        base = Table(show_header=True, header_style="bold", title="against baseline")
        for column in ("", "baseline", "now", "change"):
            base.add_column(column, justify="right")
        for name, d in doc["baseline"]["percentiles"].items():
            change = "–" if d["delta_ms"] is None else f"{d['delta_ms']:+.1f} ms"
            style = "red" if (d["delta_ms"] or 0) > 0 else "green"
            base.add_row(name, fmt_ms(d["baseline_ms"]), fmt_ms(d["current_ms"]), f"[{style}]{change}[/]")
        console.print(base)
    for line in delivery_lines(doc):  # the delivery audit (audit.json), when the run has one
        console.print(escape(line))
    for note in doc["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]")


def write_text_view(path: Path, render: Callable[[Console], None], *, width: int) -> None:
    """Render a rich view as plain text into `path` (for `--output FILE` with the text format)."""
    console = Console(record=True, width=width, no_color=True, file=io.StringIO())
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
