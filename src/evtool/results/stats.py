"""Latency statistics of one or more run logs: join events with results, classify, histogram.

Everything is vectorised (numpy) and streamed: a report over ten million events must not loop
in Python, and must not hold the run's records (56 + 32 bytes each) in memory. The event and
result files are read in chunks of `CHUNK_RECORDS`; what outlives a chunk is a few compact
columns per event (intended time, outcome, type/version group, first result time).

- **Join.** Events and results meet on their 16-byte correlation key. Structured ids
  (`runlog.EventIds`, what `simulate` assigns) carry their shard's scheme and the event's
  sequence number, so a result's key maps straight to a slot, and an inverse permutation
  (slot -> event row, filled by a scatter while the events stream by) gives its event: O(n),
  no sort. Every other key (replayed logs keep their ids, `--correlate-by data.order_id`,
  keys two events share) takes the generic path: keys mixed into a 64-bit hash, results
  sorted once and grouped, events looked up with `searchsorted`, matches confirmed on all 16
  bytes. A key is structured or not by itself, for events and results alike, so the two paths
  never split a key and give exactly the same answer. The join spans *all* run directories
  given: the collector may run on another machine than the senders (`evtool collect`).
- **Classes.** Every scheduled event is exactly one of: ok, failed, dropped, aborted (cut off
  by the end of the run: never sent or in flight, `runlog.Outcome.ABORTED`), or lost (acknowledged,
  but its first result arrived later than `intended + result_timeout`, or never). So
  scheduled = ok + failed + dropped + aborted + lost; the sender's own summary
  (ok + failed + dropped + aborted) counts lost events as ok, since only the report sees results.
  With no collector at all, end-to-end falls back to acknowledgement latency, and nothing is lost.
- **Histograms.** Latencies are bucketed with the HDR layout (µs, 3 significant figures) by
  one vectorised function (`histogram.Layout.index_of`) and counted with `bincount`; per
  type/version and per time window the counts are rows of a 2-D array, filled from combined
  (row * counts_len + bucket) indexes. The totals are `hdrh` histograms, which merge exactly.
- **Many runs.** Run directories given together (segments of one scenario, shards of one
  test) are taken one *component* at a time: runs whose keys can only meet among themselves
  (each segment's own ids and results). Only counts outlive a component, so memory follows the
  largest run, not their sum (32 segments of 1 M events: 100 MiB, as for one); a key that could
  join two components (a result collected in another run's directory, replayed ids in two runs)
  makes the runs one computation again, with the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from evtool.results import histogram as hdr
from evtool.results.clock_offset import shift_ns
from evtool.results.failures import Failure, FailureKey, count_chunk, describe, transport_name
from evtool.results.runlog import (
    EVENT_DTYPE,
    OUTCOME_BY_CODE,
    RESULT_DTYPE,
    SEQ_BITS,
    SEQ_MASK,
    IdScheme,
    Outcome,
    Reason,
    RunFiles,
    RunLog,
    Status,
    key_words,
    partition_counts,
    status_codes,
)
from evtool.results.segments import segment_problems

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
PERCENTILE_NAMES: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p99.9", "max")
DEFAULT_TARGET_NS = 2_000_000_000
DEFAULT_WINDOW_NS = 5_000_000_000
DEFAULT_RESULT_TIMEOUT_NS = 10_000_000_000
MAX_WINDOWS = 300  # more windows than this and the window is widened (said in the notes)
COLLECTOR_COUNTS_GLOB = "collector-*.json"
# Records per streamed chunk: a chunk's column temporaries (256 KiB each) stay in cache, and
# with `_keep_freed_memory` in malloc's heap (10 M events: 1 << 14 .. 1 << 16 all about 1.0 s;
# 1 << 20 about 1.8 s, its passes over 56 MiB strided records miss the cache).
CHUNK_RECORDS = 1 << 15
# A record's times must fall in [time zero - 1 day, time zero + 1 year] of its run; garbage does not.
PLAUSIBLE_BEFORE_NS = 86_400 * 1_000_000_000
PLAUSIBLE_AFTER_NS = 366 * 86_400 * 1_000_000_000

E2E, ACK, SERVICE, LAG = "end_to_end", "ack", "service", "scheduling_lag"
# stages after the ack: acked -> result seen; where results carry their broker timestamp, split
# into acked -> result written (broker clock) and result written -> result seen (this host)
ACK_TO_RESULT, ACK_TO_WRITTEN, WRITTEN_TO_SEEN = "ack_to_result", "ack_to_written", "written_to_seen"
METRICS: tuple[str, ...] = (E2E, ACK, SERVICE, LAG, ACK_TO_RESULT, ACK_TO_WRITTEN, WRITTEN_TO_SEEN)
# The hook for results that carry their record's broker timestamp (a Kafka result source): the
# first of these RESULT_DTYPE fields that exists is read as "result written" (ns on the broker's
# clock, 0 when unknown). Without one, the result-written stages stay empty.
RESULT_WRITTEN_FIELDS: tuple[str, ...] = (
    "broker_ns", "result_broker_ns", "broker_timestamp_ns", "written_ns",
)

_MIX = np.uint64(0x9E3779B97F4A7C15)
# per-event classes after the join (Outcome values, plus LOST); 0 marks a damaged record
_OK, _FAILED, _DROPPED, _ABORTED, _LOST = 1, 2, 3, 4, 5
_CLASSES = 6
_NO_RESULT = 0  # `done_ns` of an event without a (first) result

Run = RunLog | RunFiles


@dataclass(frozen=True, slots=True)
class Distribution:
    """Percentiles of one latency in ms (None when nothing was measured).

    End-to-end latency is censored: a lost event's latency is known only to exceed the result
    timeout. Those events join the ranks (`censored_count`), and a percentile that falls among
    them holds the lower bound `lower_bound_ms` and is named in `censored`: the true value is
    higher, and showing the largest measured value instead would understate it. The mean is of
    the measured values only.
    """

    count: int  # measured values
    percentiles_ms: dict[str, float | None]
    mean_ms: float | None
    censored_count: int = 0
    lower_bound_ms: float | None = None  # what every censored value exceeds
    censored: tuple[str, ...] = ()  # names of the percentiles whose true value is above lower_bound_ms

    @classmethod
    def of(cls, histogram: HdrHistogram, highest: npt.NDArray[np.int64], *, censored: int = 0,
           lower_bound_ns: int | None = None) -> Distribution:
        counts = hdr.counts_view(histogram)
        total = int(counts.sum())
        if lower_bound_ns is None:
            censored = 0
        values = hdr.percentiles_us(counts, PERCENTILES, highest, censored)
        mean = hdr.mean_us(counts, highest) if total else None
        bound_ms = lower_bound_ns / 1e6 if censored and lower_bound_ns is not None else None
        return cls(
            count=total,
            percentiles_ms=_percentiles_ms(values.tolist(), bound_ms),
            mean_ms=mean / 1000 if mean is not None else None,
            censored_count=censored,
            lower_bound_ms=bound_ms,
            censored=tuple(name for name, v in zip(PERCENTILE_NAMES, values.tolist(), strict=True)
                           if v == hdr.CENSORED_US),
        )


def _percentiles_ms(values_us: list[int], bound_ms: float | None) -> dict[str, float | None]:
    """Percentile µs values as ms: -1 (nothing measured) is None, a censored one its lower bound."""
    out: dict[str, float | None] = {}
    for name, v in zip(PERCENTILE_NAMES, values_us, strict=True):
        out[name] = bound_ms if v == hdr.CENSORED_US else (float(v) / 1000 if v >= 0 else None)
    return out


@dataclass(slots=True)
class Counts:
    """Where every scheduled event ended up: ok + failed + dropped + aborted + lost == scheduled.

    ok: acknowledged, and (with a collector) its first result came within the result timeout;
    lost: acknowledged, but no result by the timeout; aborted: cut off by the end of the run.
    """

    scheduled: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    aborted: int = 0  # cut off by the end of the run (duration over, Ctrl-C): unsent or in flight
    lost: int = 0
    within_target: int = 0
    late_results: int = 0  # lost events whose result did arrive, after the result timeout
    results: int = 0
    matched_results: int = 0
    duplicate_results: int = 0
    unmatched_results: int = 0
    uncorrelated_results: int = 0  # reported by the collector: no correlation value found
    unreadable_results: int = 0  # reported by the collector: not JSON / not an event (counted, not logged)
    shared_keys: int = 0  # events whose correlation key another event of the runs also has

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class GroupStats:
    event_type: str
    schema_version: int
    counts: Counts
    end_to_end: Distribution


@dataclass(frozen=True, slots=True)
class WindowStats:
    start_ns: int
    scheduled: int
    ok: int
    failed: int
    dropped: int
    aborted: int
    lost: int
    end_to_end_ms: dict[str, float | None]
    censored: tuple[str, ...] = ()  # percentiles above the result timeout (values: the lower bound)


@dataclass(frozen=True, slots=True)
class RunSummary:
    path: str
    run_id: str
    target: str
    events: int
    results: int
    skipped_bytes: int
    skipped_records: int
    interrupted: bool
    ended: bool = True  # meta.json records a clean end (`ended_at`)
    incomplete: list[str] = field(default_factory=list)  # the run's own `RunMeta.incomplete`
    host: str | None = None
    transport: str = ""  # "http", "kafka", "file", "stdout" ...
    topic: str | None = None  # Kafka: the topic the events went to
    # the transport's settings as the run recorded them (RunMeta.transport; no secrets)
    settings: dict[str, Any] = field(default_factory=dict)
    # Kafka: acknowledged events per partition (from kafka-offsets-<shard>.bin), partition as text
    partitions: dict[str, int] = field(default_factory=dict)
    # how the run was configured, as its meta.json recorded it (secrets already redacted there)
    tool_version: str = ""
    command: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    ended_at: str | None = None
    workers: int = 1
    collector: str | None = None
    correlate_by: str | None = None
    result_timeout_ms: float | None = None
    aborted_by: str | None = None  # --abort-on-fail ended the run: "p99<=2s at t=12.3s: ..." (RunMeta.abort)
    # the clock its results were stamped on (RunMeta.collector_clock): local, or a remote collector's offset
    collector_clock: dict[str, Any] | None = None


@dataclass(slots=True)
class LatencyStats:
    """Everything a report shows; plain data, no rendering."""

    runs: list[RunSummary]
    end_to_end_source: str  # "result" or "ack" (no collector: end-to-end is ack latency)
    target_ns: int
    window_ns: int
    counts: Counts
    reasons: dict[str, int]  # "failed:HTTP_STATUS", "dropped:MAX_IN_FLIGHT", "http:503" ...
    distributions: dict[str, Distribution]
    histograms: dict[str, HdrHistogram]
    by_type: list[GroupStats]
    windows: list[WindowStats]
    first_intended_ns: int | None
    last_intended_ns: int | None
    notes: list[str] = field(default_factory=list)
    # why these numbers cannot be stood behind (no clean end, a write error, damaged records ...):
    # any entry makes the verdict INCOMPLETE
    incomplete: list[str] = field(default_factory=list)
    result_timeout_ns: int | None = None  # with results: the (shortest) timeout after which an event is lost
    censored_above_ns: int | None = None  # what every lost event's latency is known to exceed (<= timeout)
    failures: list[Failure] = field(default_factory=list)  # why events failed / were dropped, most first
    # what the collectors said (collector-<i>.json, summed over run dirs); None: no counts file
    collector: dict[str, Any] | None = None

    @property
    def within_target_share(self) -> float | None:
        return self.counts.within_target / self.counts.scheduled if self.counts.scheduled else None

    @property
    def duration_s(self) -> float | None:
        if self.first_intended_ns is None or self.last_intended_ns is None:
            return None
        return (self.last_intended_ns - self.first_intended_ns) / 1e9

    @property
    def span_ns(self) -> int | None:
        """How long the schedule ran: first to last intended time plus one mean gap, since n events
        at rate r span n/r, not (n - 1)/r (a 1 s run at 4/s spans 1 s, not 0.75 s); None below 2 events."""
        n = self.counts.scheduled
        if self.first_intended_ns is None or self.last_intended_ns is None or n < 2:
            return None
        return round((self.last_intended_ns - self.first_intended_ns) * n / (n - 1))


# -- where the records come from -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Block:
    """One shard's event records of one run: rows `base` .. `base + count` of the joined table."""

    run: int
    base: int
    count: int
    types: Sequence[str]  # names of the `type` values of these records
    path: str  # the shard file, for saying where damaged records are
    chunks: _Chunks
    sample_keys: tuple[bytes, ...]  # keys of the first, middle and last record: where schemes are read
    details: tuple[str, ...] = ()  # the shard's failure texts: `detail` N is details[N - 1]


_Chunks = Callable[[int], Iterator[npt.NDArray[Any]]]
_Keyed = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]  # k0, k1, row or time


def _array_chunks(array: npt.NDArray[Any], start: int, stop: int) -> _Chunks:
    def chunks(size: int) -> Iterator[npt.NDArray[Any]]:
        for at in range(start, stop, size):
            yield array[at : min(stop, at + size)]

    return chunks


def _event_blocks(run: Run, index: int, base: int, path: Path) -> list[_Block]:
    if isinstance(run, RunLog):
        spans = run.blocks or [(0, 0, len(run.events))]
        return [
            _Block(index, base + start, stop - start, run.types, str(path / f"events-{shard}.bin"),
                   _array_chunks(run.events, start, stop),
                   tuple(bytes(run.events["key"][at]) for at in _samples(start, stop)),
                   _details(path / f"events-{shard}.details"))
            for shard, start, stop in spans if stop > start
        ]
    blocks = []
    for shard in run.event_files:
        if not shard.count:
            continue
        keys = []
        with shard.path.open("rb") as handle:
            for at in _samples(0, shard.count):
                handle.seek(at * EVENT_DTYPE.itemsize)
                keys.append(handle.read(16))

        def chunks(size: int, shard: Any = shard) -> Iterator[npt.NDArray[Any]]:
            return shard.chunks(EVENT_DTYPE, size)  # type: ignore[no-any-return]

        blocks.append(_Block(index, base, shard.count, shard.types, str(shard.path), chunks, tuple(keys),
                             shard.details))
        base += shard.count
    return blocks


def _details(path: Path) -> tuple[str, ...]:
    try:
        return tuple(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def _samples(start: int, stop: int) -> list[int]:
    return sorted({start, (start + stop) // 2, stop - 1})


def _event_count(run: Run) -> int:
    return len(run.events) if isinstance(run, RunLog) else run.event_count


def _result_count(run: Run) -> int:
    return len(run.results) if isinstance(run, RunLog) else run.result_count


def _result_chunks(run: Run, path: Path, size: int) -> Iterator[tuple[str, npt.NDArray[Any]]]:
    """(file, chunk) of every result record (a run read whole names its run dir's results files)."""
    if isinstance(run, RunLog):
        for chunk in _array_chunks(run.results, 0, len(run.results))(size):
            yield str(path / "results-*.bin"), chunk
        return
    for shard in run.result_files:
        for chunk in shard.chunks(RESULT_DTYPE, size):
            yield str(shard.path), chunk


def _torn_tails(run: Run, path: Path) -> list[tuple[str, int]]:
    """(file, bytes after its last whole record) of every shard with a torn tail."""
    if isinstance(run, RunLog):
        return [(str(path), run.skipped_bytes)] if run.skipped_bytes else []
    return [(str(f.path), f.torn_bytes) for f in (*run.event_files, *run.result_files) if f.torn_bytes]


# An event record's last word holds `attempts` (1 byte) and `detail` (2 bytes) below its 5 bytes of
# padding: only those top 5 bytes must be zero (a failure text's index is no damage).
_EVENT_LOW_FIELDS = 0xFF_FFFF


def _pad_nonzero(chunk: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Rows whose padding bytes are not all zero: writers always zero them, garbage rarely does.

    Read as the record's last 8-byte word (a strided view, no copy): the padding is its top 7
    bytes in an event record (below them: `attempts`). (A result record's last word is its
    `broker_ns`, checked for plausibility instead.)
    """
    size = chunk.dtype.itemsize
    if size != EVENT_DTYPE.itemsize and "_pad" not in (chunk.dtype.names or ()):
        return np.zeros(len(chunk), dtype=np.bool_)  # the spare bytes hold a field (a broker timestamp)
    word = chunk.view(np.dtype({"names": ["w"], "formats": ["<u8"], "offsets": [size - 8],
                                "itemsize": size}))["w"]
    if size == EVENT_DTYPE.itemsize:
        nonzero: npt.NDArray[np.bool_] = word > np.uint64(_EVENT_LOW_FIELDS)
    else:
        nonzero = word != 0
    return nonzero


@dataclass(slots=True)
class _Damage:
    """Damaged records of one file: how many, and the first and last record number."""

    count: int = 0
    first: int = -1
    last: int = -1

    def add(self, rows: npt.NDArray[np.intp], offset: int) -> None:
        if not len(rows):
            return
        self.count += len(rows)
        if self.first < 0:
            self.first = offset + int(rows[0])
        self.last = offset + int(rows[-1])


# -- the structured-id join ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Schemes:
    """The structured-id schemes of the event blocks; scheme i owns slots base[i] .. base[i] + capacity[i].

    A block's schemes are read from three of its records (first, middle, last: one replayed
    event among them does not hide the shard's scheme). The capacity is the largest block with
    the scheme: the sequence numbers of a shard's events are 0 .. count - 1.
    """

    high: npt.NDArray[np.uint64]  # high key word as `key_words` reads it (memory order)
    prefix: npt.NDArray[np.uint64]  # big-endian low word >> SEQ_BITS
    base: npt.NDArray[np.int64]
    capacity: npt.NDArray[np.uint64]
    tags: npt.NDArray[np.uint64]  # sorted `_tag` of each scheme, for many schemes
    tag_order: npt.NDArray[np.intp]
    schemes: tuple[IdScheme, ...] = ()  # scheme i of the arrays above

    def owner(self, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Index into `schemes` of each slot (slots must be >= 0)."""
        found: npt.NDArray[np.intp] = np.searchsorted(self.base, slots, side="right") - 1
        return found

    @classmethod
    def of(cls, blocks: Sequence[_Block]) -> _Schemes:
        capacity: dict[IdScheme, int] = {}
        for block in blocks:
            for key in block.sample_keys:
                scheme = IdScheme.of_key(key) if len(key) == 16 else None
                if scheme is not None:
                    capacity[scheme] = max(capacity.get(scheme, 0), block.count)
        schemes = list(capacity)
        high = np.array([int.from_bytes(s.high.to_bytes(8, "big"), "little") for s in schemes],
                        dtype=np.uint64)
        prefix = np.array([s.prefix for s in schemes], dtype=np.uint64)
        sizes = np.array([capacity[s] for s in schemes], dtype=np.int64)
        base = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64) if len(sizes) else sizes
        tags = _tag(high, prefix)
        order = np.argsort(tags, kind="stable")
        return cls(high, prefix, base, sizes.astype(np.uint64), tags[order], order, tuple(schemes))

    @property
    def size(self) -> int:
        return int(self.base[-1] + self.capacity[-1]) if len(self.base) else 0

    def slots(self, k0: npt.NDArray[np.uint64], k1: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Slot of each key, -1 for a key of no scheme here (or beyond its capacity).

        low word - (prefix << SEQ_BITS), unsigned, is below the capacity exactly when the prefix
        matches and the sequence number fits: one subtraction checks both and leaves the number.
        """
        if not len(self.high) or not len(k0):
            return np.full(len(k0), -1, dtype=np.int64)
        seq = k1.byteswap()  # the UUID's low word
        if len(self.high) <= 4:
            out: npt.NDArray[np.int64] | None = None
            for i in range(len(self.high)):
                offset = seq - (self.prefix[i] << np.uint64(SEQ_BITS))
                hit = offset < self.capacity[i]
                hit &= k0 == self.high[i]
                found: npt.NDArray[np.int64] = offset.view(np.int64)
                found += int(self.base[i])
                if len(self.high) == 1 and hit.all():
                    return found
                if out is None:
                    out = np.full(len(k0), -1, dtype=np.int64)
                np.copyto(out, found, where=hit)
            assert out is not None
            return out
        out = np.full(len(k0), -1, dtype=np.int64)
        prefix = seq >> np.uint64(SEQ_BITS)
        seq &= np.uint64(SEQ_MASK)
        tag = _tag(k0, prefix)
        position = np.searchsorted(self.tags, tag)
        np.minimum(position, len(self.tags) - 1, out=position)
        scheme = self.tag_order[position]
        hit = self.tags[position] == tag
        hit &= self.high[scheme] == k0
        hit &= self.prefix[scheme] == prefix
        hit &= seq < self.capacity[scheme]
        where = np.flatnonzero(hit)
        out[where] = seq[where].view(np.int64) + self.base[scheme[where]]
        return out

    def words(self, slots: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """The key words (memory order) of structured keys from their slots: the inverse of `slots`."""
        scheme = np.searchsorted(self.base, slots, side="right") - 1
        seq = (slots - self.base[scheme]).astype(np.uint64)
        low = (self.prefix[scheme] << np.uint64(SEQ_BITS)) | seq
        return self.high[scheme], low.byteswap()


def _tag(high: npt.NDArray[np.uint64], prefix: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        mixed = prefix * _MIX
    mixed ^= high
    return mixed


# -- the generic (hash) join -----------------------------------------------------------------


def _hash(k0: npt.NDArray[np.uint64], k1: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """64-bit mix of both halves; with equal first halves, equal hashes mean equal keys."""
    with np.errstate(over="ignore"):
        mixed = k0 * _MIX
    mixed ^= k1
    return mixed


def _sort_order(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
    """Row order sorting `hashes` (ties by row): sort of (high bits | row), exact after a fix-up.

    A plain `sort` is about twice as fast as `argsort`; the low bits carry the row number.
    Rows whose high bits tie but whose full hashes differ (rare) are re-sorted exactly.
    """
    n = len(hashes)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    bits = max(1, (n - 1).bit_length())
    shift = np.uint64(bits)
    packed = (hashes >> shift) << shift
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    packed &= np.uint64((1 << bits) - 1)
    order = packed.astype(np.intp)
    del packed
    sorted_hashes = hashes[order]
    unsorted = np.flatnonzero(sorted_hashes[1:] < sorted_hashes[:-1])
    if len(unsorted):
        high = sorted_hashes >> shift
        for at in np.unique(high[unsorted]).tolist():
            lo, hi = np.searchsorted(high, [at, at + 1])
            part = order[lo:hi]
            order[lo:hi] = part[np.lexsort((part, hashes[part]))]
    return order


@dataclass(slots=True)
class _JoinCounts:
    matched: int = 0
    unmatched: int = 0
    duplicates: int = 0
    shared_keys: int = 0


def _hash_join(
    event_parts: list[_Keyed],
    result_parts: list[_Keyed],
    done: npt.NDArray[np.int64],
    counts: _JoinCounts,
    written_parts: list[npt.NDArray[np.int64]] | None = None,
    written_out: npt.NDArray[np.int64] | None = None,
) -> None:
    """Match (k0, k1, row) events with (k0, k1, received) results; first arrival into done[row].

    Takes the parts as lists and empties them, so each array is freed as soon as it is used.
    With `written_parts` (the results' broker timestamps, parallel to `result_parts`), one of each
    event's results' timestamps goes into written_out[row].
    """
    rk0, rk1, received = _stack(result_parts)
    result_parts.clear()
    written = np.concatenate(written_parts) if written_parts else None
    if not len(rk0):
        event_parts.clear()
        return
    hashes = _hash(rk0, rk1)
    del rk1
    order = _sort_order(hashes)
    sorted_hashes = hashes[order]
    del hashes
    starts = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
    first = np.minimum.reduceat(received[order], starts)
    copies = np.diff(np.append(starts, len(order)))
    group_hashes = sorted_hashes[starts]
    first_words = rk0[order[starts]]
    group_written = written[order[starts]] if written is not None and written_out is not None else None
    del sorted_hashes, order, rk0, received, written
    matched = np.zeros(len(starts), dtype=np.bool_)
    ek0, ek1, rows = _stack(event_parts)
    event_parts.clear()
    if len(ek0):
        queries_unsorted = _hash(ek0, ek1)
        del ek1
        query_order = _sort_order(queries_unsorted)  # sorted queries make searchsorted ~50x faster
        queries = queries_unsorted[query_order]
        del queries_unsorted
        position = np.searchsorted(group_hashes, queries)
        np.minimum(position, len(group_hashes) - 1, out=position)
        hit = group_hashes[position] == queries
        found = query_order[hit]
        groups = position[hit]
        same = first_words[groups] == ek0[found]  # with the hash equal: all 16 bytes equal
        found, groups = found[same], groups[same]
        matched[groups] = True
        done[rows[found]] = first[groups]
        if group_written is not None and written_out is not None:
            written_out[rows[found]] = group_written[groups]
        if len(groups):
            per_group = np.bincount(groups)
            counts.shared_keys += int(per_group[per_group > 1].sum())
    counts.matched += int(copies[matched].sum())
    counts.unmatched += int(copies[~matched].sum())
    counts.duplicates += int((copies[matched] - 1).sum())


# -- small helpers ---------------------------------------------------------------------------


_COLLECTOR_COUNTS = ("results", "uncorrelated", "unreadable", "matched", "unacked", "duplicates", "foreign")
_COLLECTOR_TABLES = ("rejected", "problems")


def _read_collector(paths: Sequence[Path]) -> dict[str, Any] | None:
    """The collectors' own counts (collector-<i>.json of every run dir), summed; None: no file.

    `matched_to_run` is true when every file split its results into matched / unacked /
    duplicates / foreign (a bare `evtool collect` does not know the run's events).
    """
    total: dict[str, Any] | None = None
    for path in paths:
        for counts_file in sorted(path.glob(COLLECTOR_COUNTS_GLOB)):
            try:
                data = json.loads(counts_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(data, dict):
                continue
            if total is None:
                total = dict.fromkeys(_COLLECTOR_COUNTS, 0)
                total.update({name: {} for name in _COLLECTOR_TABLES}, files=0, matched_to_run=True)
            total["files"] += 1
            total["matched_to_run"] = total["matched_to_run"] and data.get("matched_to_run") is True
            for name in _COLLECTOR_COUNTS:
                value = data.get(name, 0)
                total[name] += value if isinstance(value, int) and not isinstance(value, bool) else 0
            for name in _COLLECTOR_TABLES:
                table = data.get(name)
                for kind, n in (table.items() if isinstance(table, dict) else ()):
                    if isinstance(n, int):
                        total[name][str(kind)] = total[name].get(str(kind), 0) + n
    return total


def _topic(settings: Any) -> str | None:
    topic = settings.get("topic") if isinstance(settings, dict) else None
    return topic if isinstance(topic, str) else None


def _written_column(chunk: npt.NDArray[Any]) -> npt.NDArray[np.int64] | None:
    """The results' broker timestamps (ns, 0: unknown) when their records hold one, else None."""
    names = chunk.dtype.names or ()
    for name in RESULT_WRITTEN_FIELDS:
        if name in names:
            column: npt.NDArray[np.int64] = chunk[name].astype(np.int64, copy=False)
            return column
    return None


def _collector_recorded(path: Path) -> int | None:
    """How many results the collectors of a run dir said they wrote to its log (None: no counts file)."""
    total = None
    for counts_file in sorted(path.glob(COLLECTOR_COUNTS_GLOB)):
        try:
            recorded = json.loads(counts_file.read_text(encoding="utf-8")).get("results")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(recorded, int):
            total = (total or 0) + recorded
    return total


def _ended_ns(run: Run) -> int | None:
    if not run.meta.ended_at:
        return None
    try:
        return int(datetime.fromisoformat(run.meta.ended_at.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return None


def _window_ns(first: int | None, last: int | None, window_ns: int, notes: list[str]) -> tuple[int, int, int]:
    """(window, first window start, number of windows) aligned on wall-clock multiples of window."""
    if first is None or last is None:
        return window_ns, 0, 0
    window = window_ns
    while (last // window - first // window + 1) > MAX_WINDOWS:
        window *= 2
    if window != window_ns:
        notes.append(f"time window widened from {window_ns / 1e9:g}s to {window / 1e9:g}s "
                     f"to keep at most {MAX_WINDOWS} windows")
    start = first // window * window
    return window, start, int((last - start) // window + 1)


def _accumulate(target: npt.NDArray[np.int64], codes: npt.NDArray[np.int64]) -> None:
    """target[c] += how often c occurs in `codes`, touching only the range the codes span."""
    if not len(codes):
        return
    lo = int(codes.min())
    found = np.bincount(codes - lo)
    target[lo : lo + len(found)] += found


_NONE = np.iinfo(np.int64).min  # `done` of an event with no (first) result / no ack


# -- the computation -------------------------------------------------------------------------


class _Windows:
    """Per-window class counts and end-to-end counts, at the width the runs seen so far need.

    Why it widens as it goes: runs are classified one component at a time (see `compute_stats`),
    before the later runs' times are known. Windows are aligned on multiples of their width
    (window_ns * 2**k) from the epoch, so each wider window is a union of whole narrower ones:
    rows fold exactly when the span grows, and the end state is the one `_window_ns` gives for
    the whole span.
    """

    def __init__(self, window_ns: int, length: int) -> None:
        self.window = window_ns
        self.length = length
        self.first: int | None = None
        self.last: int | None = None
        self.start = 0  # intended // window of row 0
        self.classes = np.zeros((1, _CLASSES), dtype=np.int64)  # one scratch row while there is no span
        self.hist = np.zeros((1, length), dtype=np.int64)

    @property
    def count(self) -> int:
        return 0 if self.first is None else len(self.classes)

    def cover(self, first: int | None, last: int | None) -> None:
        """Make the rows span [first, last] as well as what they span already."""
        if first is None or last is None:
            return
        if self.first is not None and self.last is not None:
            first, last = min(first, self.first), max(last, self.last)
        window = self.window
        while last // window - first // window + 1 > MAX_WINDOWS:
            window *= 2
        start, n = first // window, last // window - first // window + 1
        if self.first is not None and (window, start, n) == (self.window, self.start, len(self.classes)):
            self.first, self.last = first, last
            return
        classes = np.zeros((n, _CLASSES), dtype=np.int64)
        hist = np.zeros((n, self.length), dtype=np.int64)
        if self.first is not None:
            factor = window // self.window
            for row in range(len(self.classes)):
                at = (self.start + row) // factor - start
                classes[at] += self.classes[row]
                hist[at] += self.hist[row]
        self.window, self.start, self.first, self.last = window, start, first, last
        self.classes, self.hist = classes, hist


def _grow(array: npt.NDArray[np.int64], rows: int) -> npt.NDArray[np.int64]:
    """`array` with at least `rows` rows (new rows zero)."""
    if len(array) >= rows:
        return array
    grown = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class _CrossComponent(Exception):
    """A key may join records of two components: the runs must be computed together."""


class _Computation:
    """One report's state: compact per-event columns, filled in three streamed passes.

    The runs are taken one *component* at a time: runs whose keys can meet (see `plan`); each
    component's per-event columns are freed before the next is read, so memory follows the
    largest component, not the sum of the runs (segments of one scenario are one run each).
    Everything that is counted (histograms, classes per group and window, join counts) adds up
    across components, so the outcome equals one computation over all the runs at once.

    1. events (`_scan_events`): outcome, intended time, group; ack / service / lag histograms;
       structured keys scattered into the slot -> row inverse, other keys kept for the hash join;
    2. results (`_join`): first arrival per event, by slot or by hash;
    3. rows (`_classify`): lost or in time, end-to-end histograms, per group and per window.
    """

    def __init__(self, runs: Sequence[Run], paths: Sequence[Path], *, target_ns: int, window_ns: int,
                 result_timeout_ns: int | None, chunk_records: int, structured_ids: bool) -> None:
        self.runs = runs
        self.paths = paths
        self.target_ns = target_ns
        self.window_request_ns = window_ns
        self.result_timeout_ns = result_timeout_ns
        self.chunk = max(1, chunk_records)
        self.structured_ids = structured_ids
        self.notes: list[str] = []
        self.layout = hdr.Layout.of(hdr.new_histogram())
        self.totals = {name: np.zeros(self.layout.counts_len, dtype=np.int64) for name in METRICS}
        self.negative = self.too_large = 0  # negative: end-to-end latencies below 0
        self.acked_before_sent = 0  # negative service times
        # each run's shard blocks, rows counted from the run's first event (rebased per component)
        self.run_blocks = [_event_blocks(run, index, 0, path)
                           for index, (run, path) in enumerate(zip(runs, paths, strict=True))]
        self.results_total = sum(_result_count(r) for r in runs)
        self.collecting = self.results_total > 0 or any(r.meta.collector for r in runs if _event_count(r))
        self.type_ids: dict[str, int] = {}
        self.group_ids: dict[tuple[int, int], int] = {}
        self.skipped_records = [0] * len(runs)
        self.damaged: dict[str, _Damage] = {}  # file -> its damaged records (events and results)
        # timestamps a record of each run can hold: a day before its time zero .. a year after
        self.plausible = [(r.meta.clock_origin_ns - PLAUSIBLE_BEFORE_NS,
                           r.meta.clock_origin_ns + PLAUSIBLE_AFTER_NS) for r in runs]
        # ns that put each run's records on its remote collector's clock (0: already on the results' clock)
        self.shifts = [shift_ns(r.meta.collector_clock) for r in runs]
        self.early = 0  # events sent before their intended time
        self.earliest_ns = 0  # the most any of them was early
        self.reason_codes = np.zeros(1 << 16, dtype=np.int64)
        self.http: dict[int, int] = {}
        self.failures: dict[FailureKey, int] = {}
        self.transports = [transport_name(r.meta) for r in runs]
        self.first_intended: int | None = None
        self.last_intended: int | None = None
        self.join = _JoinCounts()
        self.damaged_results = 0
        self.timeout_ns: int | None = None  # the shortest result timeout of the runs with events
        # what every lost event is known to exceed: the timeout, or less when a run ended (or was
        # killed) before a lost event's timeout had elapsed
        self.censor_ns: int | None = None
        self.last_seen = [0] * len(runs)  # latest intended time of each run: its end, when it has none
        # what classification adds up over components
        length = self.layout.counts_len
        self.windows = _Windows(window_ns, length)
        self.group_classes = np.zeros((1, _CLASSES), dtype=np.int64)
        self.group_within = np.zeros(1, dtype=np.int64)
        # per type: events with a result (their first one), and those whose result came too late
        self.group_results = np.zeros(1, dtype=np.int64)
        self.group_late = np.zeros(1, dtype=np.int64)
        self.group_hist = np.zeros((1, length), dtype=np.int64)
        self.late = self.unfinished = 0
        # which component owns each structured-id scheme (for the check that keys stay inside one)
        self.all_schemes = _Schemes.of([b for blocks in self.run_blocks for b in blocks]
                                       if self.collecting and structured_ids else [])
        self.scheme_owner = np.zeros(len(self.all_schemes.schemes), dtype=np.intp)
        self.generic_components: set[int] = set()  # components with events for the hash join
        self.unmatched_components: set[int] = set()  # components with results no event of theirs had
        self._rows(0)

    def _rows(self, n: int) -> None:
        """(Re)allocate the per-event columns for a component of `n` events."""
        self.n = n
        self.intended = np.zeros(n, dtype=np.int64)
        self.cls = np.zeros(n, dtype=np.uint8)
        self.group = np.zeros(n, dtype=np.uint32)
        self.done = np.full(n, _NONE, dtype=np.int64)
        # for the stages after the ack: each event's ack time, and its result's broker timestamp
        # (only when results carry one, see RESULT_WRITTEN_FIELDS)
        self.ack = np.zeros(n, dtype=np.int64) if self.collecting and n else None
        self.written: npt.NDArray[np.int64] | None = None
        self.inverse: npt.NDArray[Any] | None = None
        self.generic_events: list[_Keyed] = []

    # -- components ------------------------------------------------------------------------

    def plan(self) -> list[list[int]]:
        """Groups of runs whose events and results can only meet inside the group.

        Without results nothing is joined: every run is its own component. With results, runs
        share a component when one structured-id scheme (a sender shard's nonce) is in both; all
        runs are one component when a run has results but no events (a separate `evtool collect`
        directory), or more than one run holds other keys (replayed ids, `--correlate-by`), which
        only the hash join over all of them can match. `run` checks the rest as it goes.
        """
        count = len(self.runs)
        if count == 1:
            return [[0]]
        if not self.collecting:
            return [[i] for i in range(count)]
        together = [list(range(count))]
        if not self.structured_ids:
            return together
        if any(_result_count(run) and not _event_count(run) for run in self.runs):
            return together
        parent = list(range(count))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        owner: dict[IdScheme, int] = {}
        unstructured = 0
        for index, blocks in enumerate(self.run_blocks):
            plain = False
            for block in blocks:
                for key in block.sample_keys:
                    scheme = IdScheme.of_key(key) if len(key) == 16 else None
                    if scheme is None:
                        plain = True
                    elif scheme in owner:
                        parent[root(index)] = root(owner[scheme])
                    else:
                        owner[scheme] = index
            unstructured += plain
        if unstructured > 1:
            return together
        groups: dict[int, list[int]] = {}
        for index in range(count):
            groups.setdefault(root(index), []).append(index)
        components = sorted(groups.values())
        component_of = {run: c for c, members in enumerate(components) for run in members}
        for i, scheme in enumerate(self.all_schemes.schemes):
            self.scheme_owner[i] = component_of[root(owner[scheme])]
        return components

    def run(self, components: list[list[int]]) -> None:
        """Scan, join and classify each component in turn (`_CrossComponent`: they must be one)."""
        self.components = len(components)
        for number, members in enumerate(components):
            self.component = number
            self.members = members
            blocks: list[_Block] = []
            self.run_rows: dict[int, tuple[int, int]] = {}
            base = 0
            for index in members:
                blocks += [replace(b, base=b.base + base) for b in self.run_blocks[index]]
                count = _event_count(self.runs[index])
                self.run_rows[index] = (base, base + count)
                base += count
            self.blocks = blocks
            self._rows(base)
            self.schemes = _Schemes.of(blocks if self.collecting and self.structured_ids else [])
            row_type = np.int32 if max(self.n, self.schemes.size) < 2**31 - 1 else np.int64
            if self.schemes.size:
                self.inverse = np.full(self.schemes.size, -1, dtype=row_type)
            self.scan_events()
            self.join_results()
            self.classify()
            self._rows(0)
        # hash-joined keys of two components could have met; so could a result no event of its own
        # component had and another component's hash-joined events
        generic = self.generic_components
        if len(generic) > 1 or (generic and self.unmatched_components - generic):
            raise _CrossComponent

    def _check_keys(self, k0: npt.NDArray[np.uint64], k1: npt.NDArray[np.uint64]) -> None:
        """Raise `_CrossComponent` when a key of this component's hash join is another one's id."""
        if self.components == 1 or not len(k0) or not len(self.all_schemes.schemes):
            return
        slots = self.all_schemes.slots(k0, k1)
        slots = slots[slots >= 0]
        if len(slots) and bool((self.scheme_owner[self.all_schemes.owner(slots)] != self.component).any()):
            raise _CrossComponent

    # -- pass 1 ----------------------------------------------------------------------------

    def scan_events(self) -> None:
        for block in self.blocks:
            local_to_global = np.array([self.type_ids.setdefault(name, len(self.type_ids))
                                        for name in block.types] or [0], dtype=np.int64)
            row = block.base
            for chunk in block.chunks(self.chunk):
                self._scan_chunk(block, chunk, row, local_to_global)
                row += len(chunk)

    def _scan_chunk(self, block: _Block, chunk: npt.NDArray[Any], row: int,
                    local_to_global: npt.NDArray[np.int64]) -> None:
        n = len(chunk)
        types = chunk["type"]
        code = status_codes(chunk["status"], chunk["reason"])
        outcome = OUTCOME_BY_CODE[code]
        intended = chunk["intended_ns"]
        sent = chunk["sent_ns"]
        ack = chunk["ack_ns"]
        # A damaged record (garbage appended to a log, a torn write in its middle) is skipped and
        # counted, never trusted and never fatal: the good records around it stay reportable.
        lo, hi = self.plausible[block.run]
        bad = outcome == 0
        bad |= (intended < lo) | (intended > hi)
        bad |= types >= len(block.types)
        ok = outcome == Outcome.OK
        bad |= ok & ((sent <= 0) | (ack <= 0))
        bad |= _pad_nonzero(chunk)
        n_bad = int(np.count_nonzero(bad))
        valid: npt.NDArray[np.bool_] | None = None
        if n_bad:
            valid = ~bad
            outcome[bad] = 0
            ok &= valid
            self.skipped_records[block.run] += n_bad
            self.damaged.setdefault(block.path, _Damage()).add(np.flatnonzero(bad), row - block.base)
            code = code.copy()
            code[bad] = 0
            types = np.where(bad, 0, types)
        shift = self.shifts[block.run]
        if shift:  # onto the remote collector's clock, where this run's results were stamped
            intended = intended + shift
            sent = np.where(sent > 0, sent + shift, sent)
            ack = np.where(ack > 0, ack + shift, ack)
        rows = slice(row, row + n)
        self.cls[rows] = outcome
        self.intended[rows] = intended
        good_intended = intended if valid is None else intended[valid]
        if len(good_intended):
            lo, hi = int(good_intended.min()), int(good_intended.max())
            self.first_intended = lo if self.first_intended is None else min(self.first_intended, lo)
            self.last_intended = hi if self.last_intended is None else max(self.last_intended, hi)
            self.last_seen[block.run] = max(self.last_seen[block.run], hi)

        # (type, version) groups, numbered as they are first seen
        versions = chunk["schema_version"].astype(np.int64)
        if valid is not None:
            versions[~valid] = 0
        width = int(versions.max()) + 1
        group_key = local_to_global[types]
        group_key *= width
        group_key += versions
        seen = np.bincount(group_key if valid is None else group_key[valid], minlength=1)
        remap = np.zeros(int(group_key.max()) + 1, dtype=np.uint32)
        for key in np.flatnonzero(seen).tolist():
            remap[key] = self.group_ids.setdefault(divmod(key, width), len(self.group_ids))
        self.group[rows] = remap[group_key]

        # why events failed or were dropped
        self.reason_codes += np.bincount(code if valid is None else code[valid], minlength=1 << 16)
        unsuccessful = outcome > Outcome.OK
        if unsuccessful.any():
            count_chunk(self.failures, chunk, code, unsuccessful, block.details, self.transports[block.run])
        failed = outcome == Outcome.FAILED
        if failed.any():
            http = chunk["http_status"][failed]
            for status, count in zip(*np.unique(http[http > 0], return_counts=True), strict=True):
                self.http[int(status)] = self.http.get(int(status), 0) + int(count)

        # latencies the event log alone gives
        ack_ok = ack[ok]
        if len(ack_ok):
            self.last_seen[block.run] = max(self.last_seen[block.run], int(ack_ok.max()))
        intended_ok = intended[ok]
        self._fill(ACK, ack_ok - intended_ok)
        self._fill(SERVICE, ack_ok - sent[ok], count_negative=True)
        was_sent = sent > 0
        if valid is not None:
            was_sent &= valid
        lag = sent[was_sent] - intended[was_sent]
        if len(lag) and int(lag.min()) < 0:
            self.early += int(np.count_nonzero(lag < 0))
            self.earliest_ns = max(self.earliest_ns, -int(lag.min()))
        self._fill(LAG, lag)
        if self.ack is None:
            self.done[rows][ok] = ack_ok
            return
        self.ack[rows] = ack

        # correlation keys: structured ones into the inverse, the rest kept for the hash join
        k0, k1 = key_words(chunk)
        generic = np.ones(n, dtype=np.bool_) if valid is None else valid.copy()
        if self.inverse is not None:
            slot = self.schemes.slots(k0, k1)
            placed = slot >= 0
            if valid is not None:
                placed &= valid
            if placed.all():
                self._place(slot, np.arange(row, row + n, dtype=np.int64))
                return
            where = np.flatnonzero(placed)
            self._place(slot[where], row + where)
            generic &= ~placed
        where = np.flatnonzero(generic)
        if len(where):
            self.generic_events.append((k0[where], k1[where], row + where))
            self.generic_components.add(self.component)

    def _place(self, slots: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]) -> None:
        """inverse[slot] = row; a slot two rows claim (a key two events share) goes to the hash join."""
        assert self.inverse is not None
        inverse = self.inverse
        before = inverse[slots]
        inverse[slots] = rows
        clash = before != -1
        clash |= inverse[slots] != rows
        if not clash.any():
            return
        shared = np.unique(slots[clash])
        inverse[shared] = -2
        earlier = before[clash]
        earlier_slots = slots[clash][earlier >= 0]
        earlier, first = np.unique(earlier[earlier >= 0], return_index=True)  # placed by earlier chunks
        mine = np.isin(slots, shared)
        moved_slots = np.concatenate((slots[mine], earlier_slots[first]))
        moved_rows = np.concatenate((rows[mine], earlier.astype(np.int64)))
        k0, k1 = self.schemes.words(moved_slots)
        self.generic_events.append((k0, k1, moved_rows))
        self.generic_components.add(self.component)

    def _fill(self, metric: str, ns: npt.NDArray[np.int64], *, count_negative: bool = False) -> None:
        us, negative, too_large = hdr.clamp_us(ns)
        if count_negative:
            self.acked_before_sent += negative
        self.too_large += too_large
        self.totals[metric] += np.bincount(self.layout.index_of(us), minlength=self.layout.counts_len)

    # -- pass 2 ----------------------------------------------------------------------------

    def join_results(self) -> None:
        if not self.collecting:
            return
        fast = 0
        generic: list[_Keyed] = []
        generic_written: list[npt.NDArray[np.int64]] = []
        for index in self.members:
            run, path = self.runs[index], self.paths[index]
            lo, hi = self.plausible[index]
            offsets: dict[str, int] = {}
            for name, chunk in _result_chunks(run, path, self.chunk):
                received = chunk["received_ns"]
                k0, k1 = key_words(chunk)
                bad = (received < lo) | (received > hi)
                broker = chunk["broker_ns"]  # 0 (unknown, older logs' padding) or a plausible time
                bad |= (broker != 0) & ((broker < lo) | (broker > hi))
                rest = ~bad
                if self.shifts[index]:  # results a run stamped itself move with its events
                    received = received + self.shifts[index]
                offset = offsets.get(name, 0)
                offsets[name] = offset + len(chunk)
                if bad.any():
                    where_bad = np.flatnonzero(bad)
                    self.damaged.setdefault(name, _Damage()).add(where_bad, offset)
                    self.damaged_results += len(where_bad)
                written = _written_column(chunk)
                if self.inverse is not None:
                    slot = self.schemes.slots(k0, k1)
                    hit = np.flatnonzero((slot >= 0) & rest)
                    rows = self.inverse[slot[hit]]
                    found = rows >= 0
                    hit = hit[found]
                    self._first_arrivals(rows[found], received[hit])
                    if written is not None and written.any():  # HTTP results carry none (all 0)
                        self._written_at(rows[found], written[hit])
                    fast += len(hit)
                    rest[hit] = False
                where = np.flatnonzero(rest)
                if len(where):
                    generic.append((k0[where], k1[where], received[where]))
                    if written is not None:
                        generic_written.append(written[where])
        self.inverse = None
        if fast:
            distinct = int(np.count_nonzero(self.done != _NONE))  # before the hash join adds its rows
            self.join.matched += fast
            self.join.duplicates += fast - distinct
        for k0, k1, _ in (*generic, *self.generic_events):
            self._check_keys(k0, k1)
        if self.written is None and any(w.any() for w in generic_written):
            self.written = np.zeros(self.n, dtype=np.int64)
        unmatched = self.join.unmatched
        # (every result chunk has the broker column or none does: one dtype per reader)
        _hash_join(self.generic_events, generic, self.done, self.join,  # empties both lists
                   generic_written if len(generic_written) == len(generic) and self.written is not None
                   else None, self.written)
        if self.join.unmatched > unmatched:
            self.unmatched_components.add(self.component)

    def _written_at(self, rows: npt.NDArray[Any], written: npt.NDArray[Any]) -> None:
        """written[row] = a result's broker timestamp (any of the event's results: repeats are rare)."""
        if self.written is None:
            self.written = np.zeros(self.n, dtype=np.int64)
        self.written[rows] = written

    def _first_arrivals(self, rows: npt.NDArray[Any], received: npt.NDArray[np.int64]) -> None:
        """done[row] = the earliest of the row's results so far: a scatter, repeats fixed up apart."""
        done = self.done
        before = done[rows]
        done[rows] = received
        seen = before != _NONE  # a result of an earlier chunk
        if seen.any():
            np.minimum.at(done, rows[seen], before[seen])
        later = received < done[rows]  # a row twice in this chunk, and the scatter kept the later
        if later.any():
            np.minimum.at(done, rows[later], received[later])

    # -- pass 3 ----------------------------------------------------------------------------

    def classify(self) -> None:
        """Pass 3 over this component's rows, added to the counts every component adds to."""
        self.windows.cover(self.first_intended, self.last_intended)
        n_groups = max(len(self.group_ids), 1)
        length = self.layout.counts_len
        self.group_classes = _grow(self.group_classes, n_groups)
        self.group_within = _grow(self.group_within, n_groups)
        self.group_results = _grow(self.group_results, n_groups)
        self.group_late = _grow(self.group_late, n_groups)
        self.group_hist = _grow(self.group_hist, n_groups)
        group_classes = self.group_classes.reshape(-1)
        group_hist = self.group_hist.reshape(-1)
        group_within, group_results, group_late = self.group_within, self.group_results, self.group_late
        windows = self.windows
        window, first_window, n_windows = windows.window, windows.start, len(windows.classes)
        window_classes = windows.classes.reshape(-1)
        window_hist = windows.hist.reshape(-1)
        for run_index in self.members:
            run = self.runs[run_index]
            first_row, end_row = self.run_rows[run_index]
            timeout = self.result_timeout_ns or run.meta.result_timeout_ns or DEFAULT_RESULT_TIMEOUT_NS
            if self.collecting and end_row > first_row:
                self.timeout_ns = timeout if self.timeout_ns is None else min(self.timeout_ns, timeout)
                self.censor_ns = timeout if self.censor_ns is None else min(self.censor_ns, timeout)
            # a run without a clean end (killed, still running) ended, as far as anyone knows, at
            # the last time its log records
            ended = _ended_ns(run)
            end_ns = (ended + self.shifts[run_index] if ended is not None
                      else (self.last_seen[run_index] or None))
            for start in range(first_row, end_row, self.chunk):
                rows = slice(start, min(end_row, start + self.chunk))
                cls = self.cls[rows]
                intended = self.intended[rows]
                done = self.done[rows]
                ok = cls == _OK
                latency = done - intended
                if self.collecting:
                    has = done != _NONE
                    in_time = ok & has & (latency <= timeout)
                    lost = ok & ~in_time
                    self.late += int(np.count_nonzero(lost & has))
                    cls[lost] = _LOST
                    if end_ns is not None:
                        cut = lost & ~has & (intended > end_ns - timeout)
                        if cut.any():
                            self.unfinished += int(np.count_nonzero(cut))
                            waited = max(0, end_ns - int(intended[cut].max()))
                            self.censor_ns = waited if self.censor_ns is None else min(self.censor_ns, waited)
                    e2e_rows = in_time
                    self._after_ack(rows, done, in_time)
                else:
                    e2e_rows = ok
                e2e = latency[e2e_rows]
                us, negative, too_large = hdr.clamp_us(e2e)
                self.negative += negative
                self.too_large += too_large
                index = self.layout.index_of(us)
                self.totals[E2E] += np.bincount(index, minlength=length)
                group = self.group[rows].astype(np.int64)
                if self.collecting:
                    group_results += np.bincount(group[has], minlength=n_groups)
                    group_late += np.bincount(group[lost & has], minlength=n_groups)
                group_classes += np.bincount(group * _CLASSES + cls, minlength=len(group_classes))
                e2e_group = group[e2e_rows]
                group_within += np.bincount(e2e_group[e2e <= self.target_ns], minlength=n_groups)
                e2e_group *= length
                e2e_group += index
                _accumulate(group_hist, e2e_group)
                # (a damaged record's time may lie outside every window: it only counts in class 0)
                slot = intended // window
                slot -= first_window
                np.clip(slot, 0, n_windows - 1, out=slot)
                window_classes += np.bincount(slot * _CLASSES + cls, minlength=len(window_classes))
                e2e_slot = slot[e2e_rows]
                e2e_slot *= length
                e2e_slot += index
                _accumulate(window_hist, e2e_slot)

    def stats(self) -> LatencyStats:
        """The report's numbers, once every component is classified."""
        window, window_start, n_windows = _window_ns(self.first_intended, self.last_intended,
                                                     self.window_request_ns, self.notes)
        windows = self.windows
        assert n_windows == windows.count  # folded as it went, to the windows of the whole span
        assert not n_windows or (window, window_start) == (windows.window, windows.start * windows.window)
        if not self.collecting:
            self.notes.insert(0, "no collector: end-to-end latency is acknowledgement latency "
                                 "(ack - intended)")
        n_groups = max(len(self.group_ids), 1)
        return self._stats(window, window_start, n_windows, _grow(self.group_classes, n_groups),
                           (_grow(self.group_within, n_groups), _grow(self.group_results, n_groups),
                            _grow(self.group_late, n_groups)), _grow(self.group_hist, n_groups),
                           windows.classes[:n_windows], windows.hist[:n_windows], self.late, self.unfinished)

    def _after_ack(self, rows: slice, done: npt.NDArray[np.int64], in_time: npt.NDArray[np.bool_]) -> None:
        """The stages after the ack of the events whose result came in time.

        Acked -> result written and written -> seen cross two clocks (the broker's, this host's):
        approximate, a negative difference counts as 0.
        """
        assert self.ack is not None
        acked = self.ack[rows][in_time]
        seen = done[in_time]
        self._fill(ACK_TO_RESULT, seen - acked)
        if self.written is None:
            return
        written = self.written[rows][in_time]
        has = written > 0
        if has.any():
            self._fill(ACK_TO_WRITTEN, written[has] - acked[has])
            self._fill(WRITTEN_TO_SEEN, seen[has] - written[has])

    def _stats(self, window: int, window_start: int, n_windows: int, group_classes: npt.NDArray[np.int64],
               group_counts: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
               group_hist: npt.NDArray[np.int64],
               window_classes: npt.NDArray[np.int64], window_hist: npt.NDArray[np.int64],
               late: int, unfinished: int) -> LatencyStats:
        highest_values = self.layout.highest_values()
        group_within, group_results, group_late = group_counts
        total = group_classes.sum(axis=0)
        counts = Counts(
            scheduled=int(total[1:].sum()), ok=int(total[_OK]), failed=int(total[_FAILED]),
            dropped=int(total[_DROPPED]), aborted=int(total[_ABORTED]), lost=int(total[_LOST]),
            within_target=int(group_within.sum()), late_results=late,
            results=self.results_total - self.damaged_results,
            matched_results=self.join.matched, duplicate_results=self.join.duplicates,
            unmatched_results=self.join.unmatched, shared_keys=self.join.shared_keys,
        )
        collector = _read_collector(self.paths)
        if collector is not None:
            counts.uncorrelated_results = collector["uncorrelated"]
            counts.unreadable_results = collector["unreadable"]
        summaries = []
        for index, (run, path) in enumerate(zip(self.runs, self.paths, strict=True)):
            skipped = self.skipped_records[index]
            summaries.append(RunSummary(
                path=str(path), run_id=run.meta.run_id, target=run.meta.target,
                events=_event_count(run) - skipped, results=_result_count(run),
                skipped_bytes=run.skipped_bytes, skipped_records=skipped, interrupted=run.meta.interrupted,
                ended=run.meta.ended_at is not None, incomplete=list(run.meta.incomplete), host=run.meta.host,
                transport=self.transports[index], topic=_topic(run.meta.transport),
                settings=dict(run.meta.transport) if isinstance(run.meta.transport, dict) else {},
                partitions={str(p): n for p, n in partition_counts(path).items()},
                tool_version=run.meta.tool_version, command=list(run.meta.command),
                options=dict(run.meta.options) if isinstance(run.meta.options, dict) else {},
                started_at=run.meta.started_at, ended_at=run.meta.ended_at, workers=run.meta.workers,
                collector=run.meta.collector, correlate_by=run.meta.correlate_by,
                result_timeout_ms=(run.meta.result_timeout_ns / 1e6 if run.meta.result_timeout_ns is not None
                                   else None),
                aborted_by=(run.meta.abort or {}).get("reason"),
                collector_clock=run.meta.collector_clock,
            ))
        notes = self.notes
        incomplete = self._incomplete()
        if self.negative:
            notes.append(self._negative_note())
        if self.acked_before_sent:
            notes.append(f"{self.acked_before_sent} events were acknowledged before they were sent on one "
                         "sender's clock (did the wall clock step during the run?); their service time "
                         "counts as 0")
        if self.early:
            notes.append(f"{self.early} events were sent before their intended time (up to "
                         f"{self.earliest_ns / 1e6:.3f} ms early): the sender ran ahead of its schedule")
        if self.too_large:
            notes.append(f"{self.too_large} latencies exceeded one hour and count as one hour")
        if unfinished:
            notes.append(f"{unfinished} lost events' result timeout had not elapsed when the run ended: "
                         "their latency is only known to exceed the time they waited")
        if counts.aborted:
            notes.append(f"{counts.aborted} events were aborted: the run ended (duration over, Ctrl-C) "
                         "before they were sent or answered")
        for summary, run in zip(summaries, self.runs, strict=True):
            if not summary.ended:
                for name, size in _torn_tails(run, Path(summary.path)):
                    notes.append(f"{name}: skipped {size} bytes of a torn last record (expected when a run "
                                 "is killed); the rest was read")
            if summary.interrupted:
                notes.append(f"{summary.path}: the run was interrupted before its planned end")

        bound_ns = self.censor_ns if self.collecting else None
        bound_ms = bound_ns / 1e6 if bound_ns is not None else None
        window_censored = window_classes[:, _LOST] if bound_ns is not None else 0
        window_percentiles = hdr.percentiles_us(window_hist, PERCENTILES, highest_values, window_censored)
        windows = [
            WindowStats(
                start_ns=window_start + w * window,
                scheduled=int(window_classes[w, 1:].sum()),
                ok=int(window_classes[w, _OK]), failed=int(window_classes[w, _FAILED]),
                dropped=int(window_classes[w, _DROPPED]), aborted=int(window_classes[w, _ABORTED]),
                lost=int(window_classes[w, _LOST]),
                end_to_end_ms=_percentiles_ms(window_percentiles[w].tolist(), bound_ms),
                censored=tuple(name for name, v in zip(PERCENTILE_NAMES, window_percentiles[w].tolist(),
                                                       strict=True) if v == hdr.CENSORED_US),
            )
            for w in range(n_windows)
        ]
        type_names = list(self.type_ids)
        by_type = []
        for (type_id, version), g in sorted(self.group_ids.items(),
                                            key=lambda item: (type_names[item[0][0]], item[0][1])):
            row = group_classes[g]
            histogram = hdr.new_histogram()
            hdr.add_counts(histogram, group_hist[g])
            by_type.append(GroupStats(
                event_type=type_names[type_id], schema_version=version,
                counts=Counts(scheduled=int(row[1:].sum()), ok=int(row[_OK]), failed=int(row[_FAILED]),
                              dropped=int(row[_DROPPED]), aborted=int(row[_ABORTED]), lost=int(row[_LOST]),
                              within_target=int(group_within[g]), results=int(group_results[g]),
                              matched_results=int(group_results[g]), late_results=int(group_late[g])),
                end_to_end=Distribution.of(histogram, highest_values, censored=int(row[_LOST]),
                                           lower_bound_ns=bound_ns),
            ))
        histograms = {}
        for name, values in self.totals.items():
            histograms[name] = hdr.new_histogram()
            hdr.add_counts(histograms[name], values)
        return LatencyStats(
            runs=summaries,
            end_to_end_source="result" if self.collecting else "ack",
            target_ns=self.target_ns,
            window_ns=window,
            counts=counts,
            reasons=self._reasons(),
            distributions={
                name: Distribution.of(h, highest_values, censored=counts.lost if name == E2E else 0,
                                      lower_bound_ns=bound_ns)
                for name, h in histograms.items()
            },
            histograms=histograms,
            by_type=by_type,
            windows=windows,
            first_intended_ns=self.first_intended,
            last_intended_ns=self.last_intended,
            notes=notes,
            incomplete=incomplete,
            result_timeout_ns=self.timeout_ns if self.collecting else None,
            censored_above_ns=bound_ns,
            failures=describe(self.failures),
            collector=collector,
        )

    def _incomplete(self) -> list[str]:
        """Why the runs cannot stand behind their numbers; a torn tail after an unclean end is expected."""
        reasons = segment_problems([run.meta for run in self.runs], self.paths)
        for run, path in zip(self.runs, self.paths, strict=True):
            if run.meta.ended_at is None:
                reasons.append(f"{path}: the run has not ended (still running, or killed): meta.json records "
                               "no clean end, so events sent last may be missing from the log")
            reasons += [f"{path}: {reason}" for reason in run.meta.incomplete]
            if run.meta.ended_at is not None:
                reasons += [f"{name}: {size} bytes after the last whole record in a run that ended cleanly "
                            "(a damaged log)" for name, size in _torn_tails(run, path)]
            recorded = _collector_recorded(path)
            if recorded is not None and recorded > _result_count(run):
                reasons.append(f"{path}: the collector recorded {recorded} results ({COLLECTOR_COUNTS_GLOB}) "
                               f"but the results log holds {_result_count(run)}: accepted results are "
                               "missing")
        for name, damage in self.damaged.items():
            itemsize = (RESULT_DTYPE if Path(name).name.startswith("results") else EVENT_DTYPE).itemsize
            reasons.append(f"{name}: skipped {damage.count} damaged records ({damage.count * itemsize} "
                           f"bytes) between record {damage.first} and {damage.last} (from byte "
                           f"{damage.first * itemsize}); the good records were read")
        return reasons

    def _negative_note(self) -> str:
        """Blame clocks only when two were involved: run dirs written on different hosts."""
        hosts = {r.meta.host for r in self.runs}
        if len(self.runs) > 1 and (len(hosts) > 1 or None in hosts):
            known = sorted(h for h in hosts if h)
            where = f"hosts {', '.join(known)}" if len(known) > 1 else "possibly different hosts"
            return (f"{self.negative} results arrived before their event's intended time: the run dirs come "
                    f"from {where}, whose clocks disagree; they count as 0")
        return (f"{self.negative} results arrived before their event's intended time, on one host's clock: "
                "those events were sent ahead of their schedule (see scheduling lag), or the results were "
                "matched to the wrong events (correlation values two events share); they count as 0")

    def _reasons(self) -> dict[str, int]:
        reasons: dict[str, int] = {}
        for code in np.flatnonzero(self.reason_codes).tolist():
            status, reason = divmod(code, 256)
            if status == Status.FAILED:
                cut = reason == Reason.CANCELLED
                label = "aborted:in_flight" if cut else f"failed:{_reason_name(reason)}"
            elif status == Status.DROPPED:
                cut = reason == Reason.CANCELLED
                label = "aborted:unsent" if cut else f"dropped:{_reason_name(reason)}"
            else:
                continue
            reasons[label] = reasons.get(label, 0) + int(self.reason_codes[code])
        for status, n in self.http.items():
            reasons[f"http:{status}"] = n
        return dict(sorted(reasons.items()))


def _reason_name(code: int) -> str:
    return Reason(code).name if code in Reason._value2member_map_ else str(code)


def _stack(parts: list[_Keyed]) -> _Keyed:
    if not parts:
        empty = np.empty(0, dtype=np.uint64)
        return empty, empty, np.empty(0, dtype=np.int64)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]).astype(np.int64, copy=False))


def _keep_freed_memory() -> None:
    """Let glibc's malloc keep the chunks' freed temporaries for reuse instead of unmapping them.

    At start glibc returns freed heap memory beyond 128 KiB to the system, so every chunk's
    column temporaries page-fault anew (about 200 000 faults, half a second of system time at
    10 M events). Freeing one block just under its 32 MiB cap makes glibc raise its mmap and
    trim thresholds (its own dynamic rule for programs that free big blocks); the faults go.
    Costs nothing (the block is never touched) and is a no-op with other allocators.
    """
    block = np.empty((32 << 20) - (1 << 16), dtype=np.uint8)
    del block


def compute_stats(
    runs: Sequence[Run],
    paths: Sequence[Path] | None = None,
    *,
    target_ns: int = DEFAULT_TARGET_NS,
    window_ns: int = DEFAULT_WINDOW_NS,
    result_timeout_ns: int | None = None,
    chunk_records: int = CHUNK_RECORDS,
    structured_ids: bool = True,
) -> LatencyStats:
    """Join, classify and histogram the events of `runs` (shards of one test, or one run).

    `runs` are run logs read whole (`read_run`) or, to stream them in little memory, opened
    run directories (`open_run`). `structured_ids=False` joins every key by hash (the result
    is the same; for tests and benchmarks of that path). Runs are taken a component at a time
    (`_Computation.plan`); when a key turns out to cross components, all of them are computed
    again as one (the report is exactly that of one computation either way).
    """
    if not runs:
        raise ValueError("compute_stats needs at least one run")
    paths = list(paths) if paths is not None else [Path(r.meta.run_id) for r in runs]
    _keep_freed_memory()

    def computation() -> _Computation:
        return _Computation(runs, paths, target_ns=target_ns, window_ns=window_ns,
                            result_timeout_ns=result_timeout_ns, chunk_records=chunk_records,
                            structured_ids=structured_ids)

    work = computation()
    try:
        work.run(work.plan())
    except _CrossComponent:  # keys of two components could meet (rare): all the runs as one
        work = computation()
        work.run([list(range(len(runs)))])
    return work.stats()


def baseline_deltas(current: LatencyStats, baseline: LatencyStats) -> dict[str, dict[str, Any]]:
    """Per end-to-end percentile: baseline ms, current ms, delta ms and ratio (a regression is > 0)."""
    out: dict[str, dict[str, Any]] = {}
    now = current.distributions[E2E].percentiles_ms
    then = baseline.distributions[E2E].percentiles_ms
    for name in PERCENTILE_NAMES:
        a, b = then[name], now[name]
        out[name] = {
            "baseline_ms": a,
            "current_ms": b,
            "delta_ms": (b - a) if a is not None and b is not None else None,
            "ratio": (b / a) if a and b is not None else None,
        }
    return out
