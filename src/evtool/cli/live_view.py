"""The live view of a run: a table redrawn in place on a terminal, a complete plain line a second
in a pipe or CI log. It renders `load.live.Snapshot`s and computes nothing of its own.

What it leads with is what the tool exists for: end-to-end latency (event intended -> result
seen) against the target, and the backlog still waiting for a result. Acknowledgements come
after, labelled as such: a target can acknowledge in 3 ms while results take 5 s. The words
are fixed: "acked" is the target's acknowledgement, "in time" a result within the target;
neither is ever called "ok".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from evtool.load.live import Snapshot

PLAIN_INTERVAL_S = 1.0
_STATE_STYLE = {"good": "bold green", "warn": "bold yellow", "bad": "bold red", "none": "yellow"}
_STATE_WORD = {"good": "within target", "warn": "near target", "bad": "OVER TARGET", "none": ""}
NOT_COLLECTED = "results not collected (no --collect): end-to-end latency unknown"


@contextlib.contextmanager
def snapshot_view(console: Console, *, quiet: bool) -> Iterator[Callable[[Snapshot], None] | None]:
    """A callback for a run's snapshots: a live table on a terminal, a plain line a second in CI
    logs, nothing when quiet. The table appears with the first snapshot (no placeholder)."""
    if quiet:
        yield None
        return
    if not console.is_terminal:
        yield _PlainView(console)
        return
    live: Live | None = None

    def show(snapshot: Snapshot) -> None:
        nonlocal live
        if live is None:
            live = Live(live_table(snapshot), console=console, refresh_per_second=4, transient=True)
            live.start()
        else:
            live.update(live_table(snapshot), refresh=False)

    try:
        yield show
    finally:
        if live is not None:
            live.stop()


class _PlainView:
    """One complete line a second (and the line that says an objective was lost, once)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.last = 0.0
        self.told_abort = False

    def __call__(self, snapshot: Snapshot) -> None:
        now = time.monotonic()
        if snapshot.aborted_by and not self.told_abort:
            self.told_abort = True
            self.console.print(f"objective lost, stopping (--abort-on-fail): {snapshot.aborted_by}",
                               markup=False)
        over = snapshot.finished and not snapshot.waiting_for_results
        if now - self.last >= PLAIN_INTERVAL_S and not over:
            self.last = now
            self.console.print(plain_line(snapshot), markup=False)


def fmt_ms(value: float | None) -> str:
    """As the report writes latencies (loaded at the first snapshot: `evtool --help` does not pay for it)."""
    from evtool.results.report import fmt_ms as report_ms

    return report_ms(value)


def _rate(s: Snapshot) -> str:
    if s.finished:
        return f"sending done ({s.sent:,} sent)"
    asked = f"asked {s.target_rate:,.0f}/s" if s.target_rate is not None else s.schedule
    return f"{s.achieved_rate:,.0f}/s sent ({asked})"


def _e2e(s: Snapshot) -> str:
    if not s.collecting:
        return NOT_COLLECTED
    window = f"last {s.e2e_window_s:g}s"
    if s.e2e_p99_ms is None:
        waited = f"; oldest waiting {s.oldest_wait_s:.1f} s" if s.oldest_wait_s else ""
        return f"no results in the {window}{waited} (target {fmt_ms(s.target_ms)})"
    word = _STATE_WORD[s.e2e_state]
    return (f"p50 {fmt_ms(s.e2e_p50_ms)} p99 {fmt_ms(s.e2e_p99_ms)} ({window}, target "
            f"{fmt_ms(s.target_ms)})" + (f" {word}" if word else ""))


def _backlog(s: Snapshot) -> str:
    text = f"{s.backlog:,} sent, waiting for a result"
    if s.collecting:
        text += f" ({s.in_flight:,} not yet acked)"
        if s.oldest_wait_s is not None:
            text += f", oldest {s.oldest_wait_s:.1f} s"
    else:
        text = f"{s.backlog:,} sent, not yet acked"
    return text


def _results(s: Snapshot) -> str:
    text = f"{s.results:,} received, {s.in_time:,} in time (<= {fmt_ms(s.target_ms)}), lost {s.lost:,}"
    if s.unmatched_results:
        text += f", {s.unmatched_results:,} matching no acked event"
    return text


def _events(s: Snapshot) -> str:
    return (f"scheduled {s.scheduled:,} sent {s.sent:,} acked {s.acked:,} failed {s.failed:,} "
            f"dropped {s.dropped:,} aborted {s.aborted:,}")


def _failures(s: Snapshot) -> str:
    return "; ".join(f"{outcome} {count:,}: {text}" for outcome, text, count in s.failures)


def _elapsed(s: Snapshot) -> str:
    text = f"{s.elapsed_s:.1f}s"
    if s.time_left_s is not None:
        text += f" ({s.time_left_s:.0f}s left)"
    if s.waiting_for_results:
        text += ", waiting for late results"
    return text


def plain_line(s: Snapshot) -> str:
    """The snapshot as one line of words and numbers (no truncation at any width)."""
    parts = [f"t={_elapsed(s)}", _rate(s), _events(s)]
    if s.collecting:
        parts += [f"end-to-end {_e2e(s)}", f"results {_results(s)}", f"backlog {_backlog(s)}"]
    else:
        parts += [NOT_COLLECTED, f"backlog {_backlog(s)}"]
    parts.append(f"ack p50 {fmt_ms(s.ack_p50_ms)} p99 {fmt_ms(s.ack_p99_ms)}")
    parts.append(f"send lag p99 {fmt_ms(s.lag_p99_ms)}" + (" BEHIND SCHEDULE" if s.behind else ""))
    if s.failures:
        parts.append(f"failures {_failures(s)}")
    for objective in s.objectives:
        if objective.state == "lost":
            parts.append(f"objective {objective.text} LOST")
    return " | ".join(parts)


def live_table(s: Snapshot) -> Table:
    """The terminal view: end-to-end and backlog first; cells wrap, never cut."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    state = _STATE_STYLE[s.e2e_state]
    table.add_row("end-to-end", f"[{state}]{escape(_e2e(s))}[/]")
    if s.collecting:
        table.add_row("results", escape(_results(s)))
    table.add_row("backlog", escape(_backlog(s)))
    table.add_row("rate", escape(_rate(s)))
    table.add_row("events", escape(_events(s)))
    if s.failures:
        table.add_row("failures", f"[red]{escape(_failures(s))}[/]")
    table.add_row("ack", f"p50 {fmt_ms(s.ack_p50_ms)} p99 {fmt_ms(s.ack_p99_ms)} "
                  "(the target's acknowledgement, last second)")
    lag = f"p99 {fmt_ms(s.lag_p99_ms)}"
    if s.behind:
        lag += " [bold red]sender behind schedule: this process is the bottleneck[/]"
    table.add_row("send lag", lag)
    for objective in s.objectives:
        style = "bold red" if objective.state == "lost" else "green"
        word = "LOST" if objective.state == "lost" else objective.state
        table.add_row("objective", f"{escape(objective.text)} [{style}]{word}[/]: {escape(objective.detail)}")
    if s.aborted_by:
        table.add_row("stopping", f"[bold red]--abort-on-fail: {escape(s.aborted_by)}[/]")
    if s.partial:
        table.add_row("note", "the backlog outgrew what the view tracks: later events' results are not timed")
    table.add_row("elapsed", escape(_elapsed(s)))
    return table


__all__ = ["live_table", "plain_line", "snapshot_view"]
