"""Latency statistics of one or more run logs: join events with results, classify, histogram.

Everything is vectorised (numpy): a report over ten million events must not loop in Python.

- **Join.** Events and results meet on their 16-byte correlation key. Keys are mixed into a
  64-bit hash; results are sorted once (a plain `sort` of hash-high-bits|row-index, cheaper
  than `argsort`), grouped (first arrival per key wins, the rest are duplicates), and events
  look their hash up with `searchsorted` on sorted queries. Hash matches are confirmed on the
  full 16 bytes. The join spans *all* run directories given, because the collector may run
  on another machine than the senders (`evtool collect` writes a results-only run).
- **Classes.** DROPPED and FAILED come from the sender's log. An OK event whose first result
  arrived later than `intended + result_timeout` (or never) is LOST. With no collector at all,
  end-to-end falls back to acknowledgement latency, and the stats say so.
- **Histograms.** Each run's latencies fill HDR histograms (µs, 3 significant figures) which
  merge exactly into the total; per type/version and per time window the same layout is
  used as rows of a 2-D counts array.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from evtool.results import histogram as hdr
from evtool.results.runlog import Reason, RunLog, Status

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
PERCENTILE_NAMES: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p99.9", "max")
DEFAULT_TARGET_NS = 2_000_000_000
DEFAULT_WINDOW_NS = 5_000_000_000
DEFAULT_RESULT_TIMEOUT_NS = 10_000_000_000
MAX_WINDOWS = 300  # more windows than this and the window is widened (said in the notes)
COLLECTOR_COUNTS_GLOB = "collector-*.json"

E2E, ACK, SERVICE, LAG = "end_to_end", "ack", "service", "scheduling_lag"
METRICS: tuple[str, ...] = (E2E, ACK, SERVICE, LAG)

_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Percentiles of one latency in ms (None when nothing was measured)."""

    count: int
    percentiles_ms: dict[str, float | None]
    mean_ms: float | None

    @classmethod
    def of(cls, histogram: HdrHistogram, highest: npt.NDArray[np.int64]) -> Distribution:
        counts = hdr.counts_view(histogram)
        total = int(counts.sum())
        values = hdr.percentiles_us(counts, PERCENTILES, highest)
        mean = hdr.mean_us(counts, highest) if total else None
        return cls(
            count=total,
            percentiles_ms={
                name: (float(v) / 1000 if total else None)
                for name, v in zip(PERCENTILE_NAMES, values.tolist(), strict=True)
            },
            mean_ms=mean / 1000 if mean is not None else None,
        )


@dataclass(slots=True)
class Counts:
    """Where every scheduled event ended up; ok + failed + dropped + lost == scheduled."""

    scheduled: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0
    lost: int = 0
    within_target: int = 0
    late_results: int = 0  # lost events whose result did arrive, after the result timeout
    results: int = 0
    matched_results: int = 0
    duplicate_results: int = 0
    unmatched_results: int = 0
    uncorrelated_results: int = 0  # reported by the collector: no correlation value found
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
    lost: int
    end_to_end_ms: dict[str, float | None]


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

    @property
    def within_target_share(self) -> float | None:
        return self.counts.within_target / self.counts.scheduled if self.counts.scheduled else None

    @property
    def duration_s(self) -> float | None:
        if self.first_intended_ns is None or self.last_intended_ns is None:
            return None
        return (self.last_intended_ns - self.first_intended_ns) / 1e9


@dataclass(slots=True)
class _ResultIndex:
    """Results of all runs grouped by correlation key (sorted by key hash)."""

    hashes: npt.NDArray[np.uint64]  # one per distinct key, sorted
    first_received: npt.NDArray[np.int64]
    copies: npt.NDArray[np.int64]  # results with this key
    first_words: npt.NDArray[np.uint64]  # first 8 key bytes of each group (hash + these = all 16)
    matched: npt.NDArray[np.bool_]


def _key_words(records: npt.NDArray[Any]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The two 8-byte halves of each record's `key`, as strided views (no 16-byte copy)."""
    fields = records.dtype.fields
    assert fields is not None
    offset = int(fields["key"][1])
    halves = np.dtype({"names": ["k0", "k1"], "formats": ["<u8", "<u8"], "offsets": [offset, offset + 8],
                       "itemsize": records.dtype.itemsize})
    view = records.view(halves)
    return view["k0"], view["k1"]


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


def _index_results(runs: Sequence[RunLog]) -> _ResultIndex:
    parts = [run.results for run in runs if len(run.results)]
    results = np.concatenate(parts) if parts else np.empty(0, dtype=runs[0].results.dtype)
    k0, k1 = _key_words(results)
    hashes = _hash(k0, k1)
    order = _sort_order(hashes)
    sorted_hashes = hashes[order]
    if len(order):
        starts = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
        first = np.minimum.reduceat(results["received_ns"][order], starts)
        copies = np.diff(np.append(starts, len(order)))
        group_rows = order[starts]
    else:
        starts = np.empty(0, dtype=np.intp)
        first = np.empty(0, dtype=np.int64)
        copies = np.empty(0, dtype=np.int64)
        group_rows = starts
    return _ResultIndex(
        hashes=sorted_hashes[starts],
        first_received=first.astype(np.int64),
        copies=copies.astype(np.int64),
        first_words=k0[group_rows],
        matched=np.zeros(len(starts), dtype=np.bool_),
    )


def _lookup(index: _ResultIndex, events: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """Group of each event's key in `index`, -1 when no result has it."""
    found = np.full(len(events), -1, dtype=np.intp)
    if not len(index.hashes) or not len(events):
        return found
    k0, k1 = _key_words(events)
    hashes = _hash(k0, k1)
    order = _sort_order(hashes)  # sorted queries make searchsorted ~50x faster
    queries = hashes[order]
    position = np.searchsorted(index.hashes, queries)
    np.minimum(position, len(index.hashes) - 1, out=position)
    hit = index.hashes[position] == queries
    rows = order[hit]
    groups = position[hit]
    same = index.first_words[groups] == k0[rows]  # with the hash equal: all 16 bytes equal
    found[rows[same]] = groups[same]
    return found


def _read_collector_counts(path: Path) -> int:
    total = 0
    for counts_file in sorted(path.glob(COLLECTOR_COUNTS_GLOB)):
        try:
            data = json.loads(counts_file.read_text(encoding="utf-8"))
            total += int(data.get("uncorrelated", 0)) + int(data.get("unreadable", 0))
        except (OSError, ValueError, TypeError):
            continue
    return total


def _ended_ns(run: RunLog) -> int | None:
    if not run.meta.ended_at:
        return None
    try:
        return int(datetime.fromisoformat(run.meta.ended_at.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        return None


def _window_ns(runs: Sequence[RunLog], window_ns: int, notes: list[str]) -> tuple[int, int, int]:
    """(window, first window start, number of windows) aligned on wall-clock multiples of window."""
    firsts = [int(r.events["intended_ns"].min()) for r in runs if len(r.events)]
    lasts = [int(r.events["intended_ns"].max()) for r in runs if len(r.events)]
    if not firsts:
        return window_ns, 0, 0
    first, last = min(firsts), max(lasts)
    window = window_ns
    while (last // window - first // window + 1) > MAX_WINDOWS:
        window *= 2
    if window != window_ns:
        notes.append(f"time window widened from {window_ns / 1e9:g}s to {window / 1e9:g}s "
                     f"to keep at most {MAX_WINDOWS} windows")
    start = first // window * window
    return window, start, int((last - start) // window + 1)


def compute_stats(
    runs: Sequence[RunLog],
    paths: Sequence[Path] | None = None,
    *,
    target_ns: int = DEFAULT_TARGET_NS,
    window_ns: int = DEFAULT_WINDOW_NS,
    result_timeout_ns: int | None = None,
) -> LatencyStats:
    """Join, classify and histogram the events of `runs` (shards of one test, or one run)."""
    if not runs:
        raise ValueError("compute_stats needs at least one run")
    paths = list(paths) if paths is not None else [Path(r.meta.run_id) for r in runs]
    notes: list[str] = []
    index = _index_results(runs)
    total_results = int(index.copies.sum())
    collecting = total_results > 0 or any(r.meta.collector for r in runs if len(r.events))
    if not collecting:
        notes.append("no collector: end-to-end latency is acknowledgement latency (ack - intended)")
    highest = hdr.new_histogram()
    layout = hdr.Layout.of(highest)
    highest_values = layout.highest_values()
    window, window_start, n_windows = _window_ns(runs, window_ns, notes)

    type_ids: dict[str, int] = {}
    total = {name: hdr.new_histogram() for name in METRICS}
    counts = Counts(results=total_results, uncorrelated_results=sum(_read_collector_counts(p) for p in paths))
    reasons: dict[str, int] = {}
    group_counts: dict[tuple[int, int], Counts] = {}
    group_hist: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
    window_hist = np.zeros((n_windows, layout.counts_len), dtype=np.int64)
    window_class = np.zeros((4, n_windows), dtype=np.int64)  # ok, failed, dropped, lost
    negative = too_large = 0
    summaries: list[RunSummary] = []
    unfinished = 0
    first_intended: int | None = None
    last_intended: int | None = None

    for run, path in zip(runs, paths, strict=True):
        events = run.events
        status = events["status"]
        intended = events["intended_ns"]
        valid = (intended > 0) & (status >= Status.OK) & (status <= Status.DROPPED)
        valid &= (status != Status.OK) | ((events["sent_ns"] > 0) & (events["ack_ns"] > 0))
        skipped_records = int(len(events) - np.count_nonzero(valid))
        if skipped_records:
            events = events[valid]
            status = events["status"]
            intended = events["intended_ns"]
        summaries.append(RunSummary(
            path=str(path), run_id=run.meta.run_id, target=run.meta.target, events=len(events),
            results=len(run.results), skipped_bytes=run.skipped_bytes, skipped_records=skipped_records,
            interrupted=run.meta.interrupted,
        ))
        if not len(events):
            continue
        lo, hi = int(intended.min()), int(intended.max())
        first_intended = lo if first_intended is None else min(first_intended, lo)
        last_intended = hi if last_intended is None else max(last_intended, hi)
        local_to_global = np.array(
            [type_ids.setdefault(name, len(type_ids)) for name in run.types] or [0], dtype=np.int64
        )
        ok = status == Status.OK
        failed = status == Status.FAILED
        dropped = status == Status.DROPPED
        sent = events["sent_ns"]
        ack = events["ack_ns"]

        if collecting:
            timeout = result_timeout_ns or run.meta.result_timeout_ns or DEFAULT_RESULT_TIMEOUT_NS
            group = _lookup(index, events)
            has_result = group >= 0
            index.matched[group[has_result]] = True
            received = np.zeros(len(events), dtype=np.int64)
            received[has_result] = index.first_received[group[has_result]]
            in_time = ok & has_result & (received - intended <= timeout)
            counts_late = int(np.count_nonzero(ok & has_result & ~in_time))
            lost = ok & ~in_time
            end_ns = _ended_ns(run)
            if end_ns is not None:
                unfinished += int(np.count_nonzero(lost & ~has_result & (intended + timeout > end_ns)))
            e2e_rows = in_time
            e2e_ns = received[in_time] - intended[in_time]
            shared = np.bincount(group[has_result]) if has_result.any() else np.zeros(0, dtype=np.int64)
            counts.shared_keys += int(shared[shared > 1].sum())
        else:
            counts_late = 0
            lost = np.zeros(len(events), dtype=np.bool_)
            e2e_rows = ok
            e2e_ns = ack[ok] - intended[ok]
        good = ok & ~lost

        values: dict[str, npt.NDArray[np.int64]] = {
            E2E: e2e_ns,
            ACK: ack[ok] - intended[ok],
            SERVICE: ack[ok] - sent[ok],
            LAG: (sent - intended)[sent > 0],
        }
        e2e_index: npt.NDArray[np.intp] | None = None
        for name, ns in values.items():
            us, neg, big = hdr.clamp_us(ns)
            if name in (E2E, SERVICE):
                negative += neg
            too_large += big
            idx = layout.index_of(us)
            run_histogram = hdr.new_histogram()
            hdr.add_counts(run_histogram, np.bincount(idx, minlength=layout.counts_len))
            total[name].add(run_histogram)
            if name == E2E:
                e2e_index = idx
        assert e2e_index is not None
        within = np.zeros(len(events), dtype=np.bool_)
        within[np.flatnonzero(e2e_rows)[e2e_ns <= target_ns]] = True

        # per event type and schema version
        gtype = local_to_global[events["type"]]
        version = events["schema_version"].astype(np.int64)
        group_key = gtype * 65536 + version
        seen = np.bincount(group_key)  # small: types x 65536 at most
        present = np.flatnonzero(seen)
        remap = np.zeros(len(seen), dtype=np.int64)
        remap[present] = np.arange(len(present))
        slot = remap[group_key]
        n_groups = len(present)
        e2e_slots = slot[e2e_rows]
        hist2d = np.bincount(
            e2e_slots * layout.counts_len + e2e_index, minlength=n_groups * layout.counts_len
        )
        hist2d = hist2d.reshape(n_groups, layout.counts_len)
        per = {
            "scheduled": np.bincount(slot, minlength=n_groups),
            "ok": np.bincount(slot[good], minlength=n_groups),
            "failed": np.bincount(slot[failed], minlength=n_groups),
            "dropped": np.bincount(slot[dropped], minlength=n_groups),
            "lost": np.bincount(slot[lost], minlength=n_groups),
            "within_target": np.bincount(slot[within], minlength=n_groups),
        }
        for g, key in enumerate(present.tolist()):
            gk = (key // 65536, key % 65536)
            c = group_counts.setdefault(gk, Counts())
            c.add(Counts(**{name: int(col[g]) for name, col in per.items()}))
            group_hist[gk] = group_hist.get(gk, np.zeros(layout.counts_len, dtype=np.int64)) + hist2d[g]

        # over time
        wslot = (intended - window_start) // window
        for row, mask in enumerate((good, failed, dropped, lost)):
            window_class[row] += np.bincount(wslot[mask], minlength=n_windows)
        window_hist += np.bincount(
            wslot[e2e_rows] * layout.counts_len + e2e_index, minlength=n_windows * layout.counts_len
        ).reshape(n_windows, layout.counts_len)

        counts.add(Counts(
            scheduled=len(events), ok=int(np.count_nonzero(good)), failed=int(np.count_nonzero(failed)),
            dropped=int(np.count_nonzero(dropped)), lost=int(np.count_nonzero(lost)),
            within_target=int(np.count_nonzero(within)), late_results=counts_late,
        ))
        for label, mask in (("failed", failed), ("dropped", dropped)):
            if mask.any():
                for code, n in enumerate(np.bincount(events["reason"][mask]).tolist()):
                    if n:
                        name = Reason(code).name if code in Reason._value2member_map_ else str(code)
                        reasons[f"{label}:{name}"] = reasons.get(f"{label}:{name}", 0) + n
        http = events["http_status"][failed & (events["http_status"] > 0)]
        for code, n in zip(*np.unique(http, return_counts=True), strict=True):
            reasons[f"http:{int(code)}"] = reasons.get(f"http:{int(code)}", 0) + int(n)

    counts.matched_results = int(index.copies[index.matched].sum())
    counts.unmatched_results = int(index.copies[~index.matched].sum())
    counts.duplicate_results = int((index.copies[index.matched] - 1).sum())
    type_names = list(type_ids)

    if negative:
        notes.append(f"{negative} latencies were negative (clocks of different machines disagree?) "
                     "and count as 0")
    if too_large:
        notes.append(f"{too_large} latencies exceeded one hour and count as one hour")
    if unfinished:
        notes.append(f"{unfinished} lost events' result timeout had not elapsed when the run ended")
    for summary in summaries:
        if summary.skipped_bytes or summary.skipped_records:
            notes.append(f"{summary.path}: skipped {summary.skipped_bytes} bytes of torn records and "
                         f"{summary.skipped_records} damaged records; the rest was read")
        if summary.interrupted:
            notes.append(f"{summary.path}: the run was interrupted before its planned end")

    window_percentiles = hdr.percentiles_us(window_hist, PERCENTILES, highest_values)
    windows = [
        WindowStats(
            start_ns=window_start + w * window,
            scheduled=int(window_class[:, w].sum()),
            ok=int(window_class[0, w]), failed=int(window_class[1, w]),
            dropped=int(window_class[2, w]), lost=int(window_class[3, w]),
            end_to_end_ms={
                name: (float(v) / 1000 if v >= 0 else None)
                for name, v in zip(PERCENTILE_NAMES, window_percentiles[w].tolist(), strict=True)
            },
        )
        for w in range(n_windows)
    ]
    by_type = []
    for (type_id, schema_version), group_count in sorted(
        group_counts.items(), key=lambda item: (type_names[item[0][0]], item[0][1])
    ):
        histogram = hdr.new_histogram()
        hdr.add_counts(histogram, group_hist[(type_id, schema_version)])
        by_type.append(GroupStats(
            event_type=type_names[type_id], schema_version=schema_version, counts=group_count,
            end_to_end=Distribution.of(histogram, highest_values),
        ))
    return LatencyStats(
        runs=summaries,
        end_to_end_source="result" if collecting else "ack",
        target_ns=target_ns,
        window_ns=window,
        counts=counts,
        reasons=dict(sorted(reasons.items())),
        distributions={name: Distribution.of(h, highest_values) for name, h in total.items()},
        histograms=total,
        by_type=by_type,
        windows=windows,
        first_intended_ns=first_intended,
        last_intended_ns=last_intended,
        notes=notes,
    )


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
