"""Segments: one schedule split over instances that never talk to each other.

Like k6's execution segments, every instance runs the same scenario and computes only its own
interleaved share. The split is a *sequence* of points from 0 to 1 (`--segment-sequence
0,1/4,1/2,1`) and an instance runs one part of it (`--segment 1/4:1/2`); `--segment I/N` is the
shorthand of `I/N:(I+1)/N` in the equal sequence 0,1/N,…,1 (0-based, so a Kubernetes Indexed Job's
JOB_COMPLETION_INDEX is I).

With L the sequence's common denominator, the schedule's arrivals fall into L *stripes* (arrival
number i is in stripe i mod L) and each part owns as many stripes as its length in L-ths. Which
stripes is spread out as k6 does, not taken in a block: in 0,1/4,1/2,1 the half 1/2:1 owns
stripes 0 and 2 (every 2nd arrival), not 2 and 3 (arrivals in pairs), so every part's traffic is as
smooth as its share allows. A part with W local workers runs global shards s + L·k (s one of its
stripes, k = 0..W-1) of the same scenario run by one process with L×W workers: the same intended
times and the same events (each shard's generator is seeded by its global shard number; ids carry
the global shard, and each instance's own run nonce, so they never collide). A local worker that
owns several stripes merges their plans by intended time (`MergedRun`). So the union of the parts
is the schedule one process would have sent, and one entity's events — born in one shard's
generator — stay on one instance, in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import itertools
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from evtool.errors import UsageError
from evtool.load.plan import EventBlock, Plan
from evtool.load.targets.base import OutEvent
from evtool.results.runlog import EVENT_DTYPE

_INDEX = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
MAX_DENOMINATOR = 100  # stripes: each is a shard with its own event generator (about a second to build)
# options that change how a run is recorded, not what it sends: segments of one scenario may differ in
# them (the sequence too: `latency-report` names a different sequence as such, not as another scenario)
RUN_LOCAL_OPTIONS = frozenset(
    {"segment", "segment_sequence", "start_at", "run_dir", "quiet", "summary_export", "metrics", "collect",
     "remote_collector"}
)


def _point(text: str, option: str, whole: str) -> Fraction:
    """A point of the schedule: 1/4, 0.25 or 25%, from 0 to 1."""
    item = text.strip()
    try:
        value = Fraction(item[:-1].strip()) / 100 if item.endswith("%") else Fraction(item)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{option} {whole!r}: {item!r} is not a fraction of the schedule",
                         hint="write points as 1/4, 0.25 or 25%") from None
    if not 0 <= value <= 1:
        raise UsageError(f"{option} {whole!r}: {item} is outside the schedule (0 to 1)")
    return value


def _shown(value: Fraction) -> str:
    return str(value)  # 0, 1, 1/4: the form meta.json records and messages show


@dataclass(frozen=True, slots=True)
class SegmentSequence:
    """The points 0 = p0 < p1 < … < pn = 1 that split one schedule into n parts, every instance alike."""

    points: tuple[Fraction, ...]

    @classmethod
    def parse(cls, text: str, option: str = "--segment-sequence") -> SegmentSequence:
        points = tuple(_point(item, option, text) for item in text.split(","))
        if len(points) < 2:
            raise UsageError(f"{option} {text!r}: give at least the two ends, e.g. 0,1/2,1")
        if points[0] != 0:
            raise UsageError(f"{option} {text!r}: must start at 0", hint="e.g. 0,1/4,1/2,1")
        if points[-1] != 1:
            raise UsageError(f"{option} {text!r}: must end at 1 (the whole schedule)",
                             hint=f"e.g. {text.rstrip(', ')},1")
        for before, after in itertools.pairwise(points):
            if after <= before:
                raise UsageError(f"{option} {text!r}: the points must increase ({_shown(after)} after "
                                 f"{_shown(before)})", hint="e.g. 0,1/4,1/2,1")
        sequence = cls(points)
        if sequence.lcd > MAX_DENOMINATOR:
            raise UsageError(f"{option} {text!r}: the common denominator {sequence.lcd} is over "
                             f"{MAX_DENOMINATOR}", hint="each stripe of the schedule is a shard with its "
                             "own generator; use coarser points, e.g. 0,1/3,1")
        return sequence

    @classmethod
    def equal(cls, count: int) -> SegmentSequence:
        return cls(tuple(Fraction(i, count) for i in range(count + 1)))

    def __str__(self) -> str:
        return ",".join(map(_shown, self.points))

    @property
    def lcd(self) -> int:
        """How many stripes the schedule has: the least common denominator of the points."""
        return math.lcm(*(p.denominator for p in self.points))

    @property
    def parts(self) -> tuple[tuple[Fraction, Fraction], ...]:
        return tuple(itertools.pairwise(self.points))

    @property
    def is_equal(self) -> bool:
        return len({end - start for start, end in self.parts}) == 1

    def stripes(self) -> tuple[tuple[int, ...], ...]:
        """The stripes each part owns, spread as evenly as each part's share allows (k6's striping).

        Position p of 0..L-1 goes to the first part, largest first, whose next stripe is due: a part
        of n L-ths that owns c so far is due at p when c/n ≤ p/L. Some part is always due (they own
        p stripes in all, so not every c/n can exceed p/L), and none gets more than its n.
        """
        lcd = self.lcd
        sizes = [int((end - start) * lcd) for start, end in self.parts]
        order = sorted(range(len(sizes)), key=lambda j: -sizes[j])  # stable: earlier parts first on ties
        owned: list[list[int]] = [[] for _ in sizes]
        for position in range(lcd):
            due = next(j for j in order if len(owned[j]) * lcd <= position * sizes[j])
            owned[due].append(position)
        return tuple(tuple(stripes) for stripes in owned)


@dataclass(frozen=True, slots=True)
class Segment:
    """This instance's part `start:end` of `sequence`; `shorthand`: given as I/N (and shown so)."""

    start: Fraction
    end: Fraction
    sequence: SegmentSequence
    shorthand: bool = False

    @classmethod
    def of(cls, index: int, count: int) -> Segment:
        """Segment I of N: I/N:(I+1)/N of the equal sequence."""
        return cls(Fraction(index, count), Fraction(index + 1, count), SegmentSequence.equal(count), True)

    @classmethod
    def parse(cls, text: str, sequence: str | None = None, *, option: str = "--segment",
              sequence_option: str = "--segment-sequence") -> Segment:
        """`I/N` or `A:B`, in `sequence` when given. `A:B` alone implies k6's sequence 0,A,B,1, which only
        a segment at an end can use (0:A with A:1): for a middle one the others' would differ."""
        given = SegmentSequence.parse(sequence, sequence_option) if sequence is not None else None
        if ":" not in text:
            index = _INDEX.match(text)
            if index is None:
                raise UsageError(f"{option} {text!r}: expected I/N (segment I of N, from 0) or A:B (a part "
                                 "of --segment-sequence, e.g. 1/4:1/2)",
                                 hint="in a Kubernetes Indexed Job: "
                                 "--segment $JOB_COMPLETION_INDEX/<completions>")
            number, count = int(index.group(1)), int(index.group(2))
            if count < 1 or not 0 <= number < count:
                raise UsageError(f"{option} {text!r}: the index must be 0..{max(count, 1) - 1} of {count} "
                                 "segments", hint="segments are numbered from 0, like JOB_COMPLETION_INDEX")
            if count > MAX_DENOMINATOR:
                raise UsageError(f"{option} {text!r}: at most {MAX_DENOMINATOR} segments")
            segment = cls.of(number, count)
            if given is None:
                return segment
            return cls._in(segment.start, segment.end, given, text, option, sequence_option, shorthand=True)
        head, _, tail = text.partition(":")
        start, end = _point(head, option, text), _point(tail, option, text)
        if start >= end:
            raise UsageError(f"{option} {text!r}: the start must be below the end", hint="e.g. 1/4:1/2")
        if given is None:
            if start > 0 and end < 1:
                raise UsageError(f"{option} {text!r}: a middle segment needs {sequence_option} (e.g. "
                                 f"0,{_shown(start)},{_shown(end)},1), so every instance splits alike")
            points = sorted({Fraction(0), start, end, Fraction(1)})
            given = SegmentSequence.parse(",".join(map(_shown, points)), sequence_option)
        return cls._in(start, end, given, text, option, sequence_option, shorthand=False)

    @classmethod
    def _in(cls, start: Fraction, end: Fraction, sequence: SegmentSequence, text: str, option: str,
            sequence_option: str, *, shorthand: bool) -> Segment:
        points = sequence.points
        for point in (start, end):
            if point not in points:
                raise UsageError(f"{option} {text!r}: {_shown(point)} is not a point of {sequence_option} "
                                 f"{sequence}",
                                 hint="a segment runs from one point of the sequence to the next")
        between = [p for p in points if start < p < end]
        if between:
            raise UsageError(f"{option} {text!r}: spans {len(between) + 1} parts of {sequence_option} "
                             f"{sequence}", hint=f"run {_shown(start)}:{_shown(between[0])} and the rest "
                             "as their own segments")
        return cls(start, end, sequence, shorthand and sequence.is_equal)

    def __str__(self) -> str:
        if self.shorthand:
            return f"{self.index}/{self.count}"
        return f"{_shown(self.start)}:{_shown(self.end)}"

    @property
    def index(self) -> int:
        return self.sequence.points.index(self.start)

    @property
    def count(self) -> int:
        return len(self.sequence.points) - 1

    @property
    def stripes(self) -> tuple[int, ...]:
        return self.sequence.stripes()[self.index]

    def global_shards(self, shard: int, workers: int) -> tuple[tuple[int, ...], int]:
        """(shards, workers) of this segment's local worker `shard` within the whole scenario."""
        lcd = self.sequence.lcd
        return tuple(stripe + lcd * shard for stripe in self.stripes), lcd * workers


@dataclass(frozen=True, slots=True)
class SegmentedPlan:
    """A plan factory that gives each local worker its shards of the whole scenario's schedule."""

    inner: Any  # a PlanFactory (GeneratedPlan, ReplayPlan, TopicReplayPlan); picklable
    segment: Segment

    def __call__(self, shard: int, workers: int) -> Plan:
        shards, total = self.segment.global_shards(shard, workers)
        if len(shards) == 1:
            plan: Plan = self.inner(shards[0], total)
            return plan
        return MergedRun([self.inner(one, total) for one in shards])

    def blocks(self, shard: int, workers: int) -> Iterator[EventBlock] | None:
        """Blocks of pre-serialized events, when the inner plan has them for these shards (else None:
        the runner takes the event plan)."""
        shards, total = self.segment.global_shards(shard, workers)
        if len(shards) == 1:
            blocks_of = getattr(self.inner, "blocks", None)
            found: Iterator[EventBlock] | None = blocks_of(shards[0], total) if blocks_of else None
            return found
        shard_blocks = getattr(self.inner, "shard_blocks", None)
        return shard_blocks(shards, total) if shard_blocks is not None else None

    def __getattr__(self, name: str) -> Any:  # check(), and whatever else the runner asks the plan
        return getattr(self.inner, name)


class MergedRun:
    """The plans of several shards run by one local worker, as one plan in intended-time order.

    Equal times go in shard order (the order of their arrival numbers within a round). The head
    taken from each plan is held here, so `rest_records` (a run that fell behind its end) counts
    those too, then each plan's own rest.
    """

    def __init__(self, parts: Sequence[Plan]) -> None:
        self._parts = list(parts)
        self._heap: list[tuple[int, int, OutEvent]] | None = None

    def _heads(self) -> list[tuple[int, int, OutEvent]]:
        if self._heap is None:
            heads = []
            for order, part in enumerate(self._parts):
                first = next(part, None)
                if first is not None:
                    heads.append((first[0], order, first[1]))
            heapq.heapify(heads)
            self._heap = heads
        return self._heap

    def prime(self) -> None:
        """Make every shard's first event now (its generator is built before time zero)."""
        self._heads()

    def __iter__(self) -> MergedRun:
        return self

    def __next__(self) -> tuple[int, OutEvent]:
        heap = self._heads()
        if not heap:
            raise StopIteration
        offset, order, event = heap[0]
        following = next(self._parts[order], None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following[0], order, following[1]))
        return offset, event

    def rest_records(
        self, start_ns: int, type_index: int, chunk: int = 1 << 16
    ) -> Iterator[npt.NDArray[Any]]:
        """`EVENT_DTYPE` records of every event not yet taken: the held heads, then each plan's rest."""
        heap = self._heads()
        held = sorted(heap, key=lambda head: head[1])
        heap.clear()
        if held:
            yield _records([(offset, event) for offset, _, event in held], start_ns, type_index)
        for part in self._parts:
            rest = getattr(part, "rest_records", None)
            if rest is not None:
                yield from rest(start_ns, type_index, chunk)
                continue
            while batch := [item for _, item in zip(range(chunk), part, strict=False)]:
                yield _records(batch, start_ns, type_index)


def _records(events: list[tuple[int, OutEvent]], start_ns: int, type_index: int) -> npt.NDArray[Any]:
    rows = np.zeros(len(events), dtype=EVENT_DTYPE)
    rows["key"] = [event.key for _, event in events]
    rows["intended_ns"] = [start_ns + offset for offset, _ in events]
    rows["type"] = type_index
    rows["schema_version"] = [event.schema_version for _, event in events]
    return rows


def scenario_hash(options: dict[str, Any], target: str) -> str:
    """What makes two runs segments of one scenario: everything they send, not how they record it."""
    sent = {k: v for k, v in sorted(options.items()) if k not in RUN_LOCAL_OPTIONS}
    text = json.dumps({"options": sent, "target": target}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def segment_seed(options: dict[str, Any], target: str) -> int:
    """The seed every segment derives alike when none is given (a fresh seed each would differ)."""
    unseeded = {k: v for k, v in options.items() if k != "seed"}
    return int(scenario_hash(unseeded, target), 16) & 0x7FFF_FFFF


def parse_start_at(text: str, *, now: dt.datetime | None = None) -> int:
    """`--start-at 2026-12-01T10:00:00Z` or `+30s`: the wall-clock instant (ns) of time zero."""
    from evtool.units import parse_duration

    moment = now or dt.datetime.now(dt.UTC)
    stripped = text.strip()
    if stripped.startswith("+"):
        seconds = parse_duration(stripped[1:], option="--start-at")
        return int((moment.timestamp() + seconds) * 1e9)
    try:
        instant = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--start-at {text!r}: expected an ISO 8601 instant like 2026-12-01T10:00:00Z, or +30s"
        ) from None
    if instant.tzinfo is None:
        raise UsageError(
            f"--start-at {text!r}: give the time zone (e.g. a trailing Z for UTC)",
            hint="instances on different hosts must agree on the instant",
        )
    return int(instant.timestamp() * 1e9)
