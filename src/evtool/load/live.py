"""Live view data: what a run looks like right now, aggregated from one or many sender processes.

Each sender emits a `Tick` a few times a second (totals so far plus histograms of the
interval's latencies); `LiveStats` merges ticks from every worker into a `Snapshot` that
the CLI renders (and `load.metrics` serves). Histograms with fixed log-spaced buckets make
merging across processes a plain array sum, and rolling percentiles cost one `searchsorted`
per tick, not per event.

What the senders cannot know, the run log tells: `LogTail` reads the records the run has
flushed so far (events and results, every shard) and joins them as they come, so the view
shows end-to-end latency, the backlog still waiting for a result and failures by reason:
what the report will say, while it can still be acted on. `--abort-on-fail` judges the
objectives on the same numbers (`judge`): a run whose objective can no longer be met ends.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evtool.results.failures import FailureKey, count_chunk, describe, transport_name
from evtool.results.runlog import (
    EVENT_DTYPE,
    OUTCOME_BY_CODE,
    RESULT_DTYPE,
    SEQ_BITS,
    SEQ_MASK,
    Outcome,
    RunMeta,
    Status,
    status_codes,
)
from evtool.results.slo import Slo, format_duration, parse_slo
from evtool.results.stats import DEFAULT_RESULT_TIMEOUT_NS, DEFAULT_TARGET_NS

# 1 µs .. 100 s, 100 buckets a decade (2.3 % relative resolution)
_EDGES_NS: npt.NDArray[np.float64] = np.logspace(3, 11, 801)
NBUCKETS = len(_EDGES_NS) + 1
WINDOW_NS = 1_000_000_000
E2E_WINDOW_NS = 5_000_000_000  # results are fewer and later than acks: percentiles over the last 5 s
SUSTAINED_TICKS = 2
PENDING_BIN_NS = 100_000_000  # the backlog's age is known to this resolution
PENDING_CAP = 2_000_000  # events with other keys (replays) tracked for their result at most (~260 MB)
TABLE_CAP = 50_000_000  # structured ids: sequence numbers a shard's table holds at most (17 bytes each)
TABLE_GROWTH = 1 << 20  # how far past its size a table grows for one key (beyond: not this run's)
_WORDS = np.dtype([("high", ">u8"), ("low", ">u8")])  # a 16-byte key as its two UUID words
_NONE = np.zeros(0, dtype=np.int64)
_Ns = npt.NDArray[np.int64]
EARLY_KEEP_NS = 10_000_000_000  # a result whose event is not logged yet waits this long for it
# classic histogram buckets as multiples of the target (2 s: 50 ms .. 20 s)
BUCKET_FACTORS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


def histogram(values_ns: list[int] | npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Bucket counts of latencies (ns) on the shared log scale."""
    if not len(values_ns):
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
class LiveSpec:
    """What the view and `--abort-on-fail` know of a run beyond its ticks; plain and picklable.

    `rate_points` is the rate asked as a piecewise-linear function of time (s, events/s): one
    point for a constant rate, a ramp per stage; empty when the schedule is a recorded one.
    `planned_events` bounds how many events the run can still schedule, so an objective is
    declared lost only when no outcome of the rest could repair it.
    """

    target_ns: int = DEFAULT_TARGET_NS
    objectives: tuple[str, ...] = ()
    abort_on_fail: bool = False
    rate_points: tuple[tuple[float, float], ...] = ()
    planned_events: int | None = None
    schedule: str = "recorded schedule"  # what the view says instead of a rate asked, when there is none

    def rate_at(self, elapsed_s: float) -> float | None:
        points = self.rate_points
        if not points:
            return None
        if elapsed_s <= points[0][0] or len(points) == 1:
            return points[0][1]
        for (t0, r0), (t1, r1) in itertools.pairwise(points):
            if elapsed_s <= t1:
                return r0 if t1 <= t0 else r0 + (r1 - r0) * (elapsed_s - t0) / (t1 - t0)
        return points[-1][1]


def arrival_rate_points(arrival: Any) -> tuple[tuple[float, float], ...]:
    """The rate asked over time by an `ArrivalSpec` (constant, poisson or stages)."""
    kind = getattr(arrival, "kind", None)
    if kind in ("constant", "poisson"):
        return ((0.0, float(arrival.rate)),)
    if kind == "stages":
        points = [(0.0, 0.0)]
        for stage in arrival.stages:
            points.append((points[-1][0] + stage.duration_s, float(stage.rate)))
        return tuple(points)
    return ()


def arrival_events(arrival: Any) -> int | None:
    """At most how many events an `ArrivalSpec` schedules (for poisson: far above what it will)."""
    kind = getattr(arrival, "kind", None)
    count: int | None = getattr(arrival, "count", None)
    duration = getattr(arrival, "duration_s", None)
    bound: float | None = None
    if kind == "constant" and duration is not None:
        bound = math.ceil(arrival.rate * duration)
    elif kind == "poisson" and duration is not None:
        mean = arrival.rate * duration
        bound = math.ceil(mean + 6 * math.sqrt(mean) + 10)
    elif kind == "stages":
        from evtool.load.arrivals import stages_count

        bound = stages_count(list(arrival.stages)) + 1
    if bound is None:
        return count
    return int(bound) if count is None else min(count, int(bound))


def completed(spec: LiveSpec, plan: Any, *, as_fast_as_possible: bool = False) -> LiveSpec:
    """`spec` with what a generated plan's arrivals tell (the rate asked, the events planned) filled in."""
    arrival = getattr(plan, "arrival", None)
    if arrival is None:
        return spec
    if as_fast_as_possible:
        return replace(spec, schedule="as fast as possible",
                       planned_events=spec.planned_events if spec.planned_events is not None
                       else getattr(arrival, "count", None))
    return replace(spec, rate_points=spec.rate_points or arrival_rate_points(arrival),
                   planned_events=spec.planned_events if spec.planned_events is not None
                   else arrival_events(arrival))


def target_of(objectives: tuple[str, ...], default_ns: int = DEFAULT_TARGET_NS) -> int:
    """The latency target a run's objectives name (the first percentile or `within` bound), else 2 s."""
    for text in objectives:
        slo = parse_slo(text)
        if slo.metric == "percentile":
            return int(slo.limit)
        if slo.metric == "within" and slo.threshold_ns is not None:
            return slo.threshold_ns
    return default_ns


@dataclass(frozen=True, slots=True)
class ObjectiveState:
    """One objective as the run stands: "holding", "lost" (cannot be met any more) or "no data"."""

    text: str
    state: str
    detail: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the live view shows. Rates are over the last second; latencies from intended send time.

    `acked` is what the target acknowledged; end-to-end figures come from results (`collecting`),
    else they are None and the view says so. `backlog` is sent and still waiting for its result
    (in flight to the target, or acknowledged and not yet answered downstream).
    """

    elapsed_s: float
    target_rate: float | None  # the rate asked at this moment; None: see `schedule`
    achieved_rate: float
    in_flight: int
    scheduled: int
    sent: int
    acked: int
    failed: int
    dropped: int
    aborted: int
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    lag_p99_ms: float | None
    behind: bool
    time_left_s: float | None
    finished: bool
    collecting: bool = False
    target_ms: float = DEFAULT_TARGET_NS / 1e6
    results: int = 0  # distinct results matched to this run's acknowledged events
    unmatched_results: int = 0  # results matching no acknowledged event (yet, after 10 s: not of this run)
    e2e_p50_ms: float | None = None  # over the last E2E_WINDOW_NS, by result arrival
    e2e_p99_ms: float | None = None
    e2e_window_s: float = E2E_WINDOW_NS / 1e9
    in_time: int = 0  # results within the target
    backlog: int = 0
    oldest_wait_s: float | None = None  # the longest an event of the backlog has waited (to the bin)
    lost: int = 0  # acknowledged, no result within the result timeout (so far)
    failures: tuple[tuple[str, str, int], ...] = ()  # ("failed", "HTTP 503", 12), most events first
    objectives: tuple[ObjectiveState, ...] = ()
    aborted_by: str | None = None  # "p99<=2s at t=12.3s: …" once --abort-on-fail ended the run
    # end-to-end (results; acks when not collecting) as a classic histogram: upper bounds (s), counts
    bucket_bounds_s: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()  # cumulative, one per bound, then +Inf
    latency_sum_s: float = 0.0
    partial: bool = False  # the backlog outgrew PENDING_CAP: later events' results are not timed
    waiting_for_results: bool = False  # sending is over; the run waits for late results
    schedule: str = "recorded schedule"  # when there is no rate asked: "as fast as possible" ...

    @property
    def e2e_state(self) -> str:
        """"good", "warn" (p99 past 80 % of the target or the backlog's oldest past it), "bad", "none"."""
        oldest_ms = (self.oldest_wait_s or 0.0) * 1000
        if self.e2e_p99_ms is None:
            if self.collecting and oldest_ms > self.target_ms:
                return "bad"
            return "none"
        if self.e2e_p99_ms > self.target_ms or oldest_ms > self.target_ms:
            return "bad"
        return "warn" if self.e2e_p99_ms > 0.8 * self.target_ms else "good"


class LogTail:
    """Reads what a run has logged so far (every shard's events and results) and joins them.

    Records reach the files within 50 ms (`runlog.FLUSH_INTERVAL_S`); each `poll` reads the
    whole records added since the last one. An acknowledged event waits in `_pending` (key ->
    intended time) until its result comes; a result that comes before its event's record (the
    consumer can answer before the target's acknowledgement is back) waits for it a while.
    Without a collector the latency observed is the acknowledgement's, and nothing is pending.
    """

    def __init__(self, run_dir: Path, *, collecting: bool, target_ns: int,
                 result_timeout_ns: int = DEFAULT_RESULT_TIMEOUT_NS,
                 thresholds_ns: tuple[int, ...] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.collecting = collecting
        self.result_timeout_ns = result_timeout_ns
        self._offsets: dict[str, int] = {}
        self._details: dict[int, tuple[str, ...]] = {}
        self._transport: str | None = None
        self.outcomes = np.zeros(5, dtype=np.int64)  # by `Outcome`
        self.failure_counts: dict[FailureKey, int] = {}
        self._pending: dict[bytes, int] = {}
        self._pending_bins = np.zeros(0, dtype=np.int64)  # pending events per PENDING_BIN_NS of intended time
        self._origin_ns: int | None = None
        self._early: dict[bytes, int] = {}
        self._early_order: deque[tuple[int, bytes]] = deque()
        self._tables: dict[tuple[int, int], _SeqTable] = {}
        self._table_pending = 0
        self.table_unmatched = 0
        self._counted_early_ns = 0
        self.partial = False
        self.results = 0
        self.unmatched = 0
        self.duplicates = 0
        self._window: deque[tuple[int, npt.NDArray[np.int64]]] = deque()
        self.bounds_ns = tuple(int(target_ns * f) for f in BUCKET_FACTORS)
        self.bucket_counts = np.zeros(len(self.bounds_ns) + 1, dtype=np.int64)
        self.latency_sum_ns = 0
        self.thresholds_ns = tuple(sorted({target_ns, result_timeout_ns, *thresholds_ns}))
        self.over = dict.fromkeys(self.thresholds_ns, 0)  # observed latencies above each threshold

    # -- reading -----------------------------------------------------------------------------

    def _read(self, name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any] | None:
        path = self.run_dir / name
        at = self._offsets.get(name, 0)
        try:
            with path.open("rb") as handle:
                handle.seek(at)
                raw = handle.read()
        except FileNotFoundError:
            return None
        whole = len(raw) // dtype.itemsize
        if not whole:
            return None
        self._offsets[name] = at + whole * dtype.itemsize
        return np.frombuffer(raw, dtype=dtype, count=whole)

    def _shards(self, kind: str) -> list[tuple[int, str]]:
        found = []
        for path in self.run_dir.glob(f"{kind}-*.bin"):
            number = path.stem.rpartition("-")[2]
            if number.isdigit():
                found.append((int(number), path.name))
        return sorted(found)

    def poll(self, now_ns: int) -> None:
        """Read and join what was logged since the last call."""
        for shard, name in self._shards("events"):
            rows = self._read(name, EVENT_DTYPE)
            if rows is not None:
                self._events(shard, rows, now_ns)
        if self.collecting:
            for _, name in self._shards("results"):
                rows = self._read(name, RESULT_DTYPE)
                if rows is not None:
                    self._results(rows, now_ns)
            self._expire_early(now_ns)
        while self._window and self._window[0][0] < now_ns - E2E_WINDOW_NS:
            self._window.popleft()

    def _events(self, shard: int, rows: npt.NDArray[Any], now_ns: int) -> None:
        code = status_codes(rows["status"], rows["reason"])
        outcome = OUTCOME_BY_CODE[code]
        self.outcomes += np.bincount(outcome, minlength=5)[:5]
        bad = outcome > Outcome.OK
        if bad.any():
            count_chunk(self.failure_counts, rows, code, bad, self._shard_details(shard, rows[bad]),
                        self._transport_name())
        ok = rows[rows["status"] == Status.OK]
        if not len(ok):
            return
        if not self.collecting:
            self._observe((ok["ack_ns"] - ok["intended_ns"]).astype(np.int64), now_ns)
            return
        intended = ok["intended_ns"].astype(np.int64)
        keys = ok["key"]
        matched, waiting, rest = self._tables_acked(keys, intended)
        if len(rest):
            more, waits = self._dict_acked(keys[rest], intended[rest])
            matched, waiting = [*matched, more], [*waiting, waits]
        self._settle(matched, waiting, [], now_ns)

    def _dict_acked(self, keys: npt.NDArray[Any], intended: npt.NDArray[np.int64]
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Acknowledged events whose keys are not structured ids: one dict entry each."""
        raw = keys.tobytes()
        matched: list[int] = []
        waiting: list[int] = []
        early, pending = self._early, self._pending
        for i, at in enumerate(intended.tolist()):
            key = raw[16 * i : 16 * i + 16]
            received = early.pop(key, None)
            if received is not None:
                matched.append(received - at)
            elif len(pending) < PENDING_CAP:
                if key not in pending:
                    pending[key] = at
                    waiting.append(at)
            else:
                self.partial = True
        return np.asarray(matched, dtype=np.int64), np.asarray(waiting, dtype=np.int64)

    def _results(self, rows: npt.NDArray[Any], now_ns: int) -> None:
        received_all = rows["received_ns"].astype(np.int64)
        keys = rows["key"]
        latencies, answered, rest = self._tables_results(keys, received_all)
        if len(rest):
            more, more_answered = self._dict_results(keys[rest], received_all[rest], now_ns)
            latencies, answered = [*latencies, more], [*answered, more_answered]
        self._settle(latencies, [], answered, now_ns)

    def _dict_results(self, keys: npt.NDArray[Any], received_ns: npt.NDArray[np.int64], now_ns: int
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        raw = keys.tobytes()
        pending, early = self._pending, self._early
        latencies: list[int] = []
        intendeds: list[int] = []
        for i, at in enumerate(received_ns.tolist()):
            key = raw[16 * i : 16 * i + 16]
            intended = pending.pop(key, None)
            if intended is not None:
                latencies.append(at - intended)
                intendeds.append(intended)
            elif key in early:
                self.duplicates += 1
            else:
                early[key] = at
                self._early_order.append((now_ns, key))
        return np.asarray(latencies, dtype=np.int64), np.asarray(intendeds, dtype=np.int64)

    def _settle(self, matched: list[npt.NDArray[np.int64]], waiting: list[npt.NDArray[np.int64]],
                answered: list[npt.NDArray[np.int64]], now_ns: int) -> None:
        """Count what a poll joined: latencies observed, events now waiting, waiting events answered."""
        waits = np.concatenate(waiting) if waiting else _NONE
        if len(waits):
            self._bin(waits, 1)
        done = np.concatenate(answered) if answered else _NONE
        if len(done):
            self._bin(done, -1)
        latencies = np.concatenate(matched) if matched else _NONE
        if len(latencies):
            self.results += len(latencies)
            self._observe(latencies, now_ns)

    # -- structured ids: a table per shard, addressed by sequence number --------------------

    def _split(self, keys: npt.NDArray[Any]) -> tuple[list[tuple[_SeqTable, npt.NDArray[np.intp],
                                                                  npt.NDArray[np.int64]]],
                                                       npt.NDArray[np.intp]]:
        """(table, rows, seqs) for the keys that are structured ids of a known shard, and the other rows.

        A scheme gets its table when its first key comes (event or result); a sequence number far
        beyond what a table holds (a hashed key that looks structured, another run's ids) goes the
        dict way, so a table never grows past the run's own events.
        """
        words = keys.view(_WORDS)
        high, low = words["high"], words["low"]
        structured = (((high >> np.uint64(12)) & np.uint64(0xF)) == 8) & ((low >> np.uint64(62)) == 2)
        if not structured.any():
            return [], np.arange(len(keys))
        prefix = low >> np.uint64(SEQ_BITS)
        seq = (low & np.uint64(SEQ_MASK)).astype(np.int64)
        found: list[tuple[_SeqTable, npt.NDArray[np.intp], npt.NDArray[np.int64]]] = []
        rest = ~structured
        where = np.flatnonzero(structured)
        h0, p0 = int(high[where[0]]), int(prefix[where[0]])
        if bool(((high[where] == h0) & (prefix[where] == p0)).all()):
            groups = [((h0, p0), where)]
        else:
            pairs = np.stack([high[where], prefix[where]], axis=1)
            groups = [((int(h), int(p)), where[(high[where] == h) & (prefix[where] == p)])
                      for h, p in np.unique(pairs, axis=0)]
        for scheme, in_scheme in groups:
            rows = in_scheme
            table = self._tables.get(scheme)
            size = len(table.state) if table is not None else 0
            fits = seq[rows] < max(2 * size, size + TABLE_GROWTH)
            fits &= seq[rows] < TABLE_CAP
            if not fits.all():
                rest[rows[~fits]] = True
                rows = rows[fits]
            if not len(rows):
                continue
            if table is None:
                table = self._tables[scheme] = _SeqTable()
            found.append((table, rows, seq[rows]))
        return found, np.flatnonzero(rest)

    def _tables_acked(self, keys: npt.NDArray[Any], intended: npt.NDArray[np.int64]
                      ) -> tuple[list[_Ns], list[_Ns], npt.NDArray[np.intp]]:
        groups, rest = self._split(keys)
        matched, waiting = [], []
        for table, rows, seqs in groups:
            latencies, waits = table.acked(seqs, intended[rows])
            matched.append(latencies)
            waiting.append(waits)
            self._table_pending += len(waits)
        return matched, waiting, rest

    def _tables_results(self, keys: npt.NDArray[Any], received_ns: npt.NDArray[np.int64]
                        ) -> tuple[list[_Ns], list[_Ns], npt.NDArray[np.intp]]:
        groups, rest = self._split(keys)
        latencies, answered = [], []
        for table, rows, seqs in groups:
            found, intendeds, duplicates = table.answered(seqs, received_ns[rows])
            latencies.append(found)
            answered.append(intendeds)
            self.duplicates += duplicates
            self._table_pending -= len(intendeds)
        return latencies, answered, rest

    def _expire_early(self, now_ns: int) -> None:
        order, early = self._early_order, self._early
        while order and order[0][0] < now_ns - EARLY_KEEP_NS:
            _, key = order.popleft()
            if early.pop(key, None) is not None:
                self.unmatched += 1
        if now_ns - self._counted_early_ns >= 1_000_000_000:  # a scan of the tables: once a second
            self._counted_early_ns = now_ns
            self.table_unmatched = sum(t.unmatched(now_ns - EARLY_KEEP_NS) for t in self._tables.values())

    def _bin(self, intended: npt.NDArray[np.int64], sign: int) -> None:
        if self._origin_ns is None:
            self._origin_ns = int(intended.min()) - PENDING_BIN_NS
        index = np.maximum((intended - self._origin_ns) // PENDING_BIN_NS, 0)
        size = int(index.max()) + 1
        if size > len(self._pending_bins):
            grown = np.zeros(max(size, 2 * len(self._pending_bins)), dtype=np.int64)
            grown[: len(self._pending_bins)] = self._pending_bins
            self._pending_bins = grown
        self._pending_bins[:size] += sign * np.bincount(index, minlength=size)

    def _observe(self, latencies: npt.NDArray[np.int64], now_ns: int) -> None:
        buckets = np.searchsorted(_EDGES_NS, latencies.astype(np.float64))
        self._window.append((now_ns, np.bincount(buckets, minlength=NBUCKETS).astype(np.int64)))
        where = np.searchsorted(np.asarray(self.bounds_ns, dtype=np.int64), latencies, side="left")
        self.bucket_counts += np.bincount(where, minlength=len(self.bounds_ns) + 1)
        self.latency_sum_ns += int(latencies.sum())
        for threshold in self.thresholds_ns:
            self.over[threshold] += int(np.count_nonzero(latencies > threshold))

    def _shard_details(self, shard: int, rows: npt.NDArray[Any]) -> tuple[str, ...]:
        known = self._details.get(shard, ())
        if int(rows["detail"].max(initial=0)) > len(known):
            path = self.run_dir / f"events-{shard}.details"
            with contextlib.suppress(OSError):
                known = tuple(path.read_text(encoding="utf-8").splitlines())
            self._details[shard] = known
        return known

    def _transport_name(self) -> str:
        if self._transport is None:
            try:
                self._transport = transport_name(RunMeta.read(self.run_dir))
            except Exception:  # a meta.json being rewritten: name it next time
                return ""
        return self._transport

    # -- what it knows -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending) + self._table_pending

    @property
    def unmatched_results(self) -> int:
        """Results that matched no acknowledged event within EARLY_KEEP_NS (another run's, a repeat...)."""
        return self.unmatched + self.table_unmatched

    def pending_older_than(self, now_ns: int, age_ns: int) -> int:
        """Pending events whose intended time is more than `age_ns` ago (whole bins only: a lower bound)."""
        if self._origin_ns is None or not len(self._pending_bins):
            return 0
        cutoff = (now_ns - age_ns - self._origin_ns) // PENDING_BIN_NS  # bins before it ended before it
        if cutoff <= 0:
            return 0
        return int(self._pending_bins[: min(int(cutoff), len(self._pending_bins))].sum())

    def oldest_pending_ns(self, now_ns: int) -> int | None:
        if self._origin_ns is None or not self._pending:
            return None
        filled = np.flatnonzero(self._pending_bins > 0)
        if not len(filled):
            return None
        return max(0, now_ns - (self._origin_ns + int(filled[0]) * PENDING_BIN_NS))

    def window_hist(self) -> npt.NDArray[np.int64]:
        return _sum(h for _, h in self._window)

    def above(self, now_ns: int, threshold_ns: int) -> int:
        """Events known to take longer than `threshold_ns`: observed so, or still waiting past it."""
        waiting = self.pending_older_than(now_ns, threshold_ns) if self.collecting else 0
        return self.over.get(threshold_ns, 0) + waiting

    def lost(self, now_ns: int) -> int:
        """Acknowledged and no result within the result timeout (the report's `lost`), so far."""
        if not self.collecting:
            return 0
        return self.over[self.result_timeout_ns] + self.pending_older_than(now_ns, self.result_timeout_ns)

    def failures(self) -> tuple[tuple[str, str, int], ...]:
        """(outcome, why, events) in the report's words ("failed", "HTTP 503", 12), most events first."""
        return tuple((f.outcome, f.text, f.count) for f in describe(self.failure_counts))


class _SeqTable:
    """One sender shard's structured ids (`runlog.EventIds`) by sequence number: the join as array
    indexing (no hashing, no Python loop per event). State per seq: 0 nothing seen, 1 acknowledged
    and waiting, 2 answered, 3 a result came before its event's record (it waits in `early`)."""

    NONE, WAITING, ANSWERED, EARLY = 0, 1, 2, 3

    def __init__(self) -> None:
        self.state = np.zeros(0, dtype=np.int8)
        self.intended = np.zeros(0, dtype=np.int64)
        self.early = np.zeros(0, dtype=np.int64)  # the early result's arrival

    def _fit(self, seqs: npt.NDArray[np.int64]) -> None:
        top = int(seqs.max()) + 1
        if top <= len(self.state):
            return
        size = max(top, 2 * len(self.state), 1024)
        for name in ("state", "intended", "early"):
            old = getattr(self, name)
            grown = np.zeros(size, dtype=old.dtype)
            grown[: len(old)] = old
            setattr(self, name, grown)

    def acked(self, seqs: npt.NDArray[np.int64], intended: npt.NDArray[np.int64]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Latencies of events whose result was waiting, and the intended times of the rest (now waiting)."""
        self._fit(seqs)
        state = self.state[seqs]
        early = state == self.EARLY
        latencies = self.early[seqs[early]] - intended[early]
        self.state[seqs[early]] = self.ANSWERED
        new = state == self.NONE
        self.state[seqs[new]] = self.WAITING
        self.intended[seqs[new]] = intended[new]
        return latencies, intended[new]

    def answered(self, seqs: npt.NDArray[np.int64], received_ns: npt.NDArray[np.int64]
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
        """Latencies of waiting events now answered, their intended times, and how many were repeats."""
        self._fit(seqs)
        unique, first = np.unique(seqs, return_index=True)
        received = received_ns[first]
        state = self.state[unique]
        waiting = state == self.WAITING
        intendeds = self.intended[unique[waiting]]
        self.state[unique[waiting]] = self.ANSWERED
        none = state == self.NONE
        self.state[unique[none]] = self.EARLY
        self.early[unique[none]] = received[none]
        repeats = len(seqs) - len(unique) + int(np.count_nonzero(state >= self.ANSWERED))
        return received[waiting] - intendeds, intendeds, repeats

    def unmatched(self, before_ns: int) -> int:
        """Early results that waited since before `before_ns` and still have no event."""
        return int(np.count_nonzero((self.state == self.EARLY) & (self.early < before_ns)))


def judge(slo: Slo, tail: LogTail, now_ns: int, planned_events: int | None) -> ObjectiveState:
    """Whether `slo` can still be met, assuming every event still to come goes as well as it can."""
    failed, dropped, aborted = (int(tail.outcomes[o]) for o in (Outcome.FAILED, Outcome.DROPPED,
                                                                 Outcome.ABORTED))
    counts = {"failed": failed, "dropped": dropped, "aborted": aborted, "lost": tail.lost(now_ns)}
    if slo.metric in counts:
        count = counts[slo.metric]
        if slo.op not in ("<=", "<"):
            return ObjectiveState(slo.text, "holding", f"{count} so far")
        if slo.relative:
            if planned_events is None:
                return ObjectiveState(slo.text, "holding", f"{count} so far")
            allowed = slo.limit * planned_events
        else:
            allowed = slo.limit
        over = count > allowed if slo.op == "<=" else count >= allowed
        what = f"{count} {slo.metric}" + (" (acknowledged, no result within the result timeout)"
                                          if slo.metric == "lost" else "")
        return ObjectiveState(slo.text, "lost" if over else "holding", f"{what}; at most {allowed:g} allowed")
    if slo.metric == "percentile":
        assert slo.percentile is not None
        bound = int(slo.limit)
        above = tail.above(now_ns, bound)
        word = f"already took longer than {format_duration(bound)}"
        if planned_events is None:
            return ObjectiveState(slo.text, "holding", f"{above} events {word}")
        # the most events the percentile can be taken over: every one not failed, dropped or aborted
        population = max(planned_events - failed - dropped - aborted, 0)
        allowed = population - math.ceil(slo.percentile / 100 * population)
        lost = above > allowed if slo.op == "<=" else above >= max(allowed, 1)
        return ObjectiveState(slo.text, "lost" if lost else "holding",
                              f"{above} events {word}; p{slo.percentile:g} allows {allowed} of the "
                              f"{planned_events} events planned at most")
    if slo.metric == "within":
        assert slo.threshold_ns is not None
        misses = failed + dropped + aborted + tail.above(now_ns, slo.threshold_ns)
        what = (f"{misses} events missed {format_duration(slo.threshold_ns)} "
                "(failed, dropped, aborted or late)")
        if not planned_events:
            return ObjectiveState(slo.text, "holding", what)
        best = max(planned_events - misses, 0) / planned_events
        allowed = math.floor(planned_events * (1 - slo.limit) + 1e-9)
        return ObjectiveState(slo.text, "holding" if slo.holds(best) else "lost",
                              f"{what}; {slo.limit * 100:g}% of the {planned_events} events planned "
                              f"at most allows {allowed} misses")
    return ObjectiveState(slo.text, "no data", "")


@dataclass(slots=True)
class LiveStats:
    """Merges ticks of `workers` senders; notices when the senders fall behind their schedule.

    With `run_dir` it also tails the run's log (`LogTail`) for results, backlog and failures,
    and judges `spec.objectives`; with `spec.abort_on_fail`, `aborted_by` is set the first time
    one is lost (and the runner stops the run).
    """

    start_ns: int
    workers: int = 1
    planned_duration_s: float | None = None
    lag_bound_ns: int = 10_000_000
    spec: LiveSpec = field(default_factory=LiveSpec)
    run_dir: Path | None = None
    collecting: bool = False
    result_timeout_s: float | None = None
    _latest: dict[int, Tick] = field(default_factory=dict)
    _window: deque[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(default_factory=deque)
    _totals: deque[tuple[int, int, int]] = field(default_factory=deque)
    _late_ticks: int = 0
    behind: bool = False
    behind_since_ns: int | None = None
    behind_spells: list[tuple[float, float, float]] = field(default_factory=list)  # start s, end s, lag p99
    lag_max_ns: int = 0
    _spell_lag_ms: float = 0.0
    tail: LogTail | None = None
    _slos: tuple[Slo, ...] = ()
    aborted_by: str | None = None
    abort_objective: str | None = None
    waiting_for_results: bool = False  # the senders are done; the run waits for late results
    abort_at_s: float | None = None

    def __post_init__(self) -> None:
        self._totals.append((self.start_ns, 0, 0))
        self._slos = tuple(parse_slo(text) for text in self.spec.objectives)
        if self.run_dir is not None:
            timeout = self.result_timeout_s
            self.tail = LogTail(
                self.run_dir,
                collecting=self.collecting,
                target_ns=self.spec.target_ns,
                result_timeout_ns=int(timeout * 1e9) if timeout is not None else DEFAULT_RESULT_TIMEOUT_NS,
                thresholds_ns=tuple(int(s.limit) if s.metric == "percentile" else int(s.threshold_ns or 0)
                                    for s in self._slos if s.metric in ("percentile", "within")),
            )

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
        first_ns, _, first_sent = self._totals[0]
        span_s = (now_ns - first_ns) / 1e9
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
        in_flight = sum(t.in_flight for t in ticks)
        snapshot = Snapshot(
            elapsed_s=elapsed_s,
            target_rate=self.spec.rate_at(elapsed_s),
            achieved_rate=achieved_rate,
            in_flight=in_flight,
            scheduled=scheduled,
            sent=sent,
            acked=sum(t.ok for t in ticks),
            failed=sum(t.failed for t in ticks),
            dropped=sum(t.dropped for t in ticks),
            aborted=sum(t.aborted for t in ticks),
            ack_p50_ms=percentile_ms(ack, 50),
            ack_p99_ms=percentile_ms(ack, 99),
            lag_p99_ms=lag_p99,
            behind=self.behind,
            time_left_s=time_left,
            finished=finished,
            collecting=self.collecting,
            target_ms=self.spec.target_ns / 1e6,
            backlog=in_flight,
            waiting_for_results=self.waiting_for_results,
            schedule=self.spec.schedule,
        )
        tail = self.tail
        if tail is None:
            return snapshot
        tail.poll(now_ns)
        objectives = tuple(judge(slo, tail, now_ns, self.spec.planned_events) for slo in self._slos)
        if self.aborted_by is None and self.spec.abort_on_fail:
            for slo, state in zip(self._slos, objectives, strict=True):
                if state.state == "lost":
                    self.abort_objective = slo.text
                    self.abort_at_s = round(elapsed_s, 1)
                    self.aborted_by = f"{slo.text} at t={elapsed_s:.1f}s: {state.detail}"
                    break
        window = tail.window_hist()
        oldest = tail.oldest_pending_ns(now_ns) if self.collecting else None
        counts = np.cumsum(tail.bucket_counts)
        return replace(
            snapshot,
            results=tail.results,
            unmatched_results=tail.unmatched_results,
            e2e_p50_ms=percentile_ms(window, 50) if self.collecting else None,
            e2e_p99_ms=percentile_ms(window, 99) if self.collecting else None,
            in_time=tail.results - tail.over[self.spec.target_ns] if self.collecting else 0,
            backlog=in_flight + (tail.pending if self.collecting else 0),
            oldest_wait_s=oldest / 1e9 if oldest is not None else None,
            lost=tail.lost(now_ns),
            failures=tail.failures(),
            objectives=objectives,
            aborted_by=self.aborted_by,
            bucket_bounds_s=tuple(b / 1e9 for b in tail.bounds_ns),
            bucket_counts=tuple(int(c) for c in counts),
            latency_sum_s=tail.latency_sum_ns / 1e9,
            partial=tail.partial,
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
