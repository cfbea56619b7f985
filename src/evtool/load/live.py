"""Live view data: what a run looks like right now, aggregated from one or many sender processes.

Each sender emits a `Tick` a few times a second (totals so far plus histograms of the
interval's latencies); `LiveStats` merges ticks from every worker into a `Snapshot` that
the CLI renders. Histograms with fixed log-spaced buckets make merging across processes a
plain array sum, and rolling percentiles cost one `searchsorted` per tick, not per event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# 1 µs .. 100 s, 100 buckets a decade (2.3 % relative resolution)
_EDGES_NS: npt.NDArray[np.float64] = np.logspace(3, 11, 801)
NBUCKETS = len(_EDGES_NS) + 1
WINDOW_NS = 1_000_000_000
SUSTAINED_TICKS = 2


def histogram(values_ns: list[int]) -> npt.NDArray[np.int64]:
    """Bucket counts of latencies (ns) on the shared log scale."""
    if not values_ns:
        return np.zeros(NBUCKETS, dtype=np.int64)
    indexes = np.searchsorted(_EDGES_NS, np.asarray(values_ns, dtype=np.float64))
    return np.bincount(indexes, minlength=NBUCKETS).astype(np.int64)


def percentile_ms(hist: npt.NDArray[np.int64], q: float) -> float | None:
    """The q-th percentile (0-100) of a histogram, as its bucket's upper edge in ms."""
    total = int(hist.sum())
    if total == 0:
        return None
    rank = max(1, int(np.ceil(q / 100 * total)))
    index = int(np.searchsorted(np.cumsum(hist), rank))
    edge = _EDGES_NS[min(index, len(_EDGES_NS) - 1)]
    return float(edge) / 1e6


@dataclass(slots=True)
class Tick:
    """One sender's state at `at_ns`: totals so far, histograms of this interval only."""

    source: int
    at_ns: int
    scheduled: int
    sent: int
    ok: int
    failed: int
    dropped: int
    aborted: int
    in_flight: int
    ack_hist: npt.NDArray[np.int64]
    lag_hist: npt.NDArray[np.int64]
    lag_max_ns: int
    finished: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the live view shows. Rates are over the last second; latencies from intended send time."""

    elapsed_s: float
    target_rate: float
    achieved_rate: float
    in_flight: int
    scheduled: int
    ok: int
    failed: int
    dropped: int
    aborted: int
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    lag_p99_ms: float | None
    behind: bool
    time_left_s: float | None
    finished: bool


@dataclass(slots=True)
class LiveStats:
    """Merges ticks of `workers` senders; notices when the senders fall behind their schedule."""

    start_ns: int
    workers: int = 1
    planned_duration_s: float | None = None
    lag_bound_ns: int = 10_000_000
    _latest: dict[int, Tick] = field(default_factory=dict)
    _window: deque[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(default_factory=deque)
    _totals: deque[tuple[int, int, int]] = field(default_factory=deque)
    _late_ticks: int = 0
    behind: bool = False
    behind_since_ns: int | None = None
    behind_spells: list[tuple[float, float, float]] = field(default_factory=list)  # start s, end s, lag p99
    lag_max_ns: int = 0
    _spell_lag_ms: float = 0.0

    def __post_init__(self) -> None:
        self._totals.append((self.start_ns, 0, 0))

    def update(self, tick: Tick) -> None:
        self._latest[tick.source] = tick
        self._window.append((tick.at_ns, tick.ack_hist, tick.lag_hist))
        self.lag_max_ns = max(self.lag_max_ns, tick.lag_max_ns)

    def snapshot(self, now_ns: int) -> Snapshot:
        while self._window and self._window[0][0] < now_ns - WINDOW_NS:
            self._window.popleft()
        ticks = list(self._latest.values())
        scheduled = sum(t.scheduled for t in ticks)
        sent = sum(t.sent for t in ticks)
        self._totals.append((now_ns, scheduled, sent))
        while len(self._totals) > 1 and self._totals[1][0] <= now_ns - WINDOW_NS:
            self._totals.popleft()
        first_ns, first_scheduled, first_sent = self._totals[0]
        span_s = (now_ns - first_ns) / 1e9
        target_rate = (scheduled - first_scheduled) / span_s if span_s > 0 else 0.0
        achieved_rate = (sent - first_sent) / span_s if span_s > 0 else 0.0
        ack = _sum(h for _, h, _ in self._window)
        lag = _sum(h for _, _, h in self._window)
        lag_p99 = percentile_ms(lag, 99)
        self._track_behind(now_ns, lag_p99)
        elapsed_s = max(now_ns - self.start_ns, 0) / 1e9
        time_left = None
        if self.planned_duration_s is not None:
            time_left = max(self.planned_duration_s - elapsed_s, 0.0)
        finished = len(ticks) == self.workers and all(t.finished for t in ticks)
        return Snapshot(
            elapsed_s=elapsed_s,
            target_rate=target_rate,
            achieved_rate=achieved_rate,
            in_flight=sum(t.in_flight for t in ticks),
            scheduled=scheduled,
            ok=sum(t.ok for t in ticks),
            failed=sum(t.failed for t in ticks),
            dropped=sum(t.dropped for t in ticks),
            aborted=sum(t.aborted for t in ticks),
            ack_p50_ms=percentile_ms(ack, 50),
            ack_p99_ms=percentile_ms(ack, 99),
            lag_p99_ms=lag_p99,
            behind=self.behind,
            time_left_s=time_left,
            finished=finished,
        )

    def _track_behind(self, now_ns: int, lag_p99_ms: float | None) -> None:
        late = lag_p99_ms is not None and lag_p99_ms * 1e6 > self.lag_bound_ns
        self._late_ticks = self._late_ticks + 1 if late else 0
        if late and lag_p99_ms is not None:
            self._spell_lag_ms = max(self._spell_lag_ms, lag_p99_ms)
        if self._late_ticks >= SUSTAINED_TICKS and not self.behind:
            self.behind = True
            self.behind_since_ns = now_ns
        elif not late and self.behind:
            self._close_spell(now_ns)

    def _close_spell(self, now_ns: int) -> None:
        assert self.behind_since_ns is not None
        self.behind_spells.append(
            (
                (self.behind_since_ns - self.start_ns) / 1e9,
                (now_ns - self.start_ns) / 1e9,
                self._spell_lag_ms,
            )
        )
        self.behind = False
        self.behind_since_ns = None
        self._spell_lag_ms = 0.0

    def notes(self, now_ns: int) -> list[str]:
        """Sentences for meta.json: when the senders could not keep their schedule."""
        if self.behind:
            self._close_spell(now_ns)
        notes = [
            f"sender behind schedule from {start:.1f}s to {end:.1f}s (send lag p99 up to {lag:.1f} ms, "
            f"bound {self.lag_bound_ns / 1e6:g} ms): this process was the bottleneck there"
            for start, end, lag in self.behind_spells
        ]
        if self.lag_max_ns > self.lag_bound_ns and not notes:
            notes.append(
                f"send lag peaked at {self.lag_max_ns / 1e6:.1f} ms (bound {self.lag_bound_ns / 1e6:g} ms)"
            )
        return notes


def _sum(hists: Any) -> npt.NDArray[np.int64]:
    total = np.zeros(NBUCKETS, dtype=np.int64)
    for hist in hists:
        total += hist
    return total
