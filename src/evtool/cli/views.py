"""Views shared by several commands: the live run display and the end-of-run summary.

Command modules never import one another; what two of them render the same way lives here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

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
    for note in s.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"run: {s.run_dir}", markup=False)
