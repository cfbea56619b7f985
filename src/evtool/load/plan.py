"""Plans: which event leaves when. An arrival process (or a recorded log's own gaps) zipped with events.

A plan factory is a small picklable object: each sender process calls it with its shard index
and builds its own lazy plan, so `--workers N` never ships events between processes and
never holds a run in memory.

A replayed JSONL log also comes in blocks of columns (`ReplayPlan.blocks`, `EventBlock`): in
structured and batch modes the recorded bytes are sent as they are, so each event needs no
object and no JSON parse, only its key, type, version and time cut out of the line.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from evtool.errors import EvtoolError, InputError, UsageError
from evtool.events.envelope import CloudEvent, parse_dataschema
from evtool.load import arrivals
from evtool.load.targets.base import OutEvent
from evtool.results.runlog import EVENT_DTYPE, SEQ_BITS, EventIds, correlation_key

Plan = Iterator[tuple[int, OutEvent]]
LINK_EXTENSIONS = ("correlationid", "causationid")  # extensions that name another event's id
RENAMED_ROOTS = 1 << 18  # chain roots whose new ids are remembered for the links that follow
CHUNK_BYTES = 1 << 20  # a replayed log is read and parsed in blocks of about this size


def correlation_value(event: CloudEvent, path: str | None) -> str:
    """The value a downstream result will carry to match this event.

    By default the event id. With `--correlate-by`, the first of its comma-separated names or
    dotted field paths (`data.order_id`) that this event has, rendered as the collector
    renders it (strings as they are, other values as sorted JSON); the id when none match.
    """
    if not path or path == "id":
        return event.id
    envelope = event.to_dict()
    for item in path.split(","):
        node: Any = envelope
        for part in item.strip().split("."):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
            if node is None:
                break
        if node is not None and node != "":
            return node if isinstance(node, str) else json.dumps(node, sort_keys=True)
    return event.id


def to_out(event: CloudEvent, correlate_by: str | None = None, raw: bytes | None = None) -> OutEvent:
    ref = event.schema_ref
    return OutEvent(
        event=event,
        key=correlation_key(correlation_value(event, correlate_by)),
        schema_version=ref[1] if ref else 0,
        raw=raw,
    )


@dataclass(frozen=True, slots=True)
class ArrivalSpec:
    """`--rate`/`--arrival`/`--stages`/`--duration`/`--count`, resolved."""

    kind: Literal["constant", "poisson", "stages"]
    rate: float = 0.0
    stages: tuple[arrivals.Stage, ...] = ()
    duration_s: float | None = None
    count: int | None = None
    seed: int | None = None

    def offsets(self) -> Iterator[int]:
        """The global schedule (every worker's arrivals)."""
        if self.kind == "stages":
            offsets = arrivals.staged_offsets(list(self.stages), count=self.count)
            if self.duration_s is not None:
                limit = round(self.duration_s * arrivals.NS)
                return (o for o in offsets if o < limit)
            return offsets
        if self.kind == "poisson":
            return arrivals.poisson_offsets(
                self.rate, seed=self.seed, duration_s=self.duration_s, count=self.count
            )
        return arrivals.constant_offsets(self.rate, duration_s=self.duration_s, count=self.count)

    def constant_rest(
        self, taken: int, shard: int, workers: int, chunk: int
    ) -> Iterator[npt.NDArray[np.int64]]:
        """A constant rate's offsets of shard `shard` after its first `taken`, `chunk` at a time, computed
        as `offsets` does (round(i * gap), to the same float) but in arrays."""
        gap = arrivals.NS / self.rate
        limit = 1 << 62 if self.duration_s is None else round(self.duration_s * arrivals.NS)
        end = 1 << 62 if self.count is None else self.count
        index = shard + taken * workers
        while index < end:
            numbers = index + np.arange(chunk, dtype=np.int64) * workers
            numbers = numbers[numbers < end]
            part = np.rint(numbers * gap).astype(np.int64)
            part = part[part < limit]
            if not len(part):
                return
            yield part
            index += chunk * workers

    @property
    def planned_duration_s(self) -> float | None:
        if self.kind == "stages":
            total = arrivals.stages_duration_s(list(self.stages))
            return min(total, self.duration_s) if self.duration_s is not None else total
        if self.duration_s is not None:
            return self.duration_s
        if self.count is not None and self.rate > 0:
            return self.count / self.rate
        return None

    @property
    def mean_rate(self) -> float:
        if self.kind == "stages":
            duration = arrivals.stages_duration_s(list(self.stages))
            return arrivals.stages_count(list(self.stages)) / duration if duration else 0.0
        return self.rate


@runtime_checkable
class BornWithIds(Protocol):
    """An event factory that can give each event its id as it is made (`GeneratedEvents`), in the
    order it yields them: then no event is renamed after birth, and a flow's links name the ids."""

    def with_ids(self, shard: int, workers: int, ids: Callable[[], str]) -> Iterable[CloudEvent]: ...


@dataclass(frozen=True, slots=True)
class GeneratedPlan:
    """Events from a generator factory, at the arrival times of `arrival` (this worker's share)."""

    arrival: ArrivalSpec
    events: Callable[[int, int], Iterable[CloudEvent]]  # (shard, workers) -> lazy events; picklable
    correlate_by: str | None = None
    structured_ids: bool = True  # give events `StructuredIds` (False: keep the generator's ids)

    def __call__(self, shard: int, workers: int) -> Plan:
        offsets = arrivals.shard(self.arrival.offsets(), shard, workers)
        if not self.structured_ids:
            return self._plain(offsets, iter(self.events(shard, workers)))
        ids = StructuredIds(shard)
        by_id = not self.correlate_by or self.correlate_by == "id"
        rest = (functools.partial(self.arrival.constant_rest, shard=shard, workers=workers)
                if self.arrival.kind == "constant" else None)
        if isinstance(self.events, BornWithIds):  # each event made once, its structured id given at birth
            events = iter(self.events.with_ids(shard, workers, ids.birth))
            key_of = ids.born_key
        else:  # renamed as they leave
            events, key_of = iter(self.events(shard, workers)), ids.assign
        plan = self._structured(offsets, events, key_of, by_id)
        return GeneratedRun(plan, offsets, rest, ids if by_id else None)

    def _plain(self, offsets: Iterator[int], events: Iterator[CloudEvent]) -> Plan:
        for offset in offsets:
            event = next(events, None)
            if event is None:
                return
            yield offset, to_out(event, self.correlate_by)

    def _structured(
        self, offsets: Iterator[int], events: Iterator[CloudEvent], key_of: Callable[[CloudEvent], bytes],
        by_id: bool,
    ) -> Plan:
        """Events with their structured ids (`key_of`: `StructuredIds.born_key` or `.assign`)."""
        versions: dict[str | None, int] = {}  # by dataschema: a run names a handful
        for offset in offsets:
            event = next(events, None)
            if event is None:
                return
            key = key_of(event)
            if not by_id:
                yield offset, to_out(event, self.correlate_by)
                continue
            version = versions.get(event.dataschema)
            if version is None:
                version = versions[event.dataschema] = _version(event)
            yield offset, OutEvent(event, key, version)


RestOffsets = Callable[..., Iterator[npt.NDArray[np.int64]]]


class GeneratedRun:
    """A generated plan being run: iterated as its generator, plus the records of what it has left.

    `rest_records` serves a run that fell behind its end (`Dispatcher(end_ns=...)`): the rest of
    the schedule, with the ids the events would have had, as records, without making the events.
    """

    def __init__(self, events: Plan, offsets: Iterator[int], computed: RestOffsets | None,
                 ids: StructuredIds | None) -> None:
        self._events = events
        self._offsets = offsets  # the schedule the events are zipped with (what is left of it)
        self._computed = computed  # (taken=, chunk=) -> the same offsets after the first `taken`, in arrays
        self._ids = ids

    def _rest_offsets(self, taken: int, chunk: int) -> Iterator[npt.NDArray[np.int64]]:
        if self._computed is not None:
            yield from self._computed(taken=taken, chunk=chunk)
            return
        while len(part := np.fromiter(islice(self._offsets, chunk), dtype=np.int64)):
            yield part

    def __iter__(self) -> Plan:
        return self._events

    def prime(self) -> None:
        """Make the first event now (before time zero); it is still the first one iterated."""
        first = next(self._events, None)
        if first is not None:
            self._events = itertools.chain([first], self._events)

    def __next__(self) -> tuple[int, OutEvent]:
        return next(self._events)

    def rest_records(
        self, start_ns: int, type_index: int, chunk: int = 1 << 16
    ) -> Iterator[npt.NDArray[Any]]:
        """`EVENT_DTYPE` records (key, intended time, `type_index`) of every event not yet taken."""
        if self._ids is None:  # keys come from the events themselves: make them
            for offset, event in self._events:
                rows = np.zeros(1, dtype=EVENT_DTYPE)
                rows["key"] = np.frombuffer(event.key, dtype=KEY_DTYPE)
                rows["intended_ns"] = start_ns + offset
                rows["type"] = type_index
                rows["schema_version"] = event.schema_version
                yield rows
            return
        ids = self._ids.ids
        words = np.empty((chunk, 2), dtype=">u8")
        # the plan's events are numbered in order: the sequence number is the count taken so far
        for offsets in self._rest_offsets(taken=ids.next_seq, chunk=chunk):
            n = len(offsets)
            first = ids.next_seq
            ids.next_seq = first + n
            words[:n, 0] = ids.scheme.high
            words[:n, 1] = (ids.scheme.prefix << SEQ_BITS | first) + np.arange(n, dtype=np.uint64)
            rows = np.zeros(n, dtype=EVENT_DTYPE)
            rows["key"] = words[:n].view(KEY_DTYPE).ravel()
            rows["intended_ns"] = offsets + start_ns
            rows["type"] = type_index
            yield rows


class StructuredIds:
    """Gives generated events structured ids (`runlog.EventIds`), so the report joins them without sorting.

    A factory that can (`BornWithIds`) gives each event its id as it is made (`birth`), in plan
    order (the sequence number), and a flow's links name those ids from the start. Any other
    factory's ids are replaced as the events leave the plan (`assign`), and links between
    events (`correlationid`, `causationid` naming the id of the event that started a chain)
    follow: the new ids of the last `RENAMED_ROOTS` chain roots (events whose correlationid is
    their own id) are remembered; a link to an older root keeps the generator's id. Ids stay
    unique (shard and sequence number) and valid CloudEvents ids (UUID strings); `evtool generate`
    keeps its seeded ids.
    """

    def __init__(self, shard: int, nonce: int | None = None) -> None:
        self.ids = EventIds(shard, nonce)
        self._roots: dict[str, str] = {}
        self.born_keys: deque[bytes] = deque()  # keys of ids given by `birth`, not yet taken by the plan

    def birth(self) -> str:
        """The next id, for an event being made (`BornWithIds`); its key waits in `born_keys`."""
        new_id, key = self.ids.next()
        self.born_keys.append(key)
        return new_id

    def born_key(self, event: CloudEvent) -> bytes:
        """The correlation key of `event`, the next one born (`birth`): events leave in birth order."""
        return self.born_keys.popleft()

    def assign(self, event: CloudEvent) -> bytes:
        """Rename `event` (and its links); returns the correlation key of its new id."""
        new_id, key = self.ids.next()
        old_id = event.id
        event.id = new_id
        extensions = event.extensions
        if extensions:
            roots = self._roots
            root = False
            for name in LINK_EXTENSIONS:
                value = extensions.get(name)
                if value is None:
                    continue
                if value == old_id:
                    extensions[name] = new_id
                    root = root or name == "correlationid"
                elif value in roots:
                    extensions[name] = roots[value]
            if root:
                roots[old_id] = new_id
                if len(roots) > RENAMED_ROOTS:
                    del roots[next(iter(roots))]
        return key


def _version(event: CloudEvent) -> int:
    ref = event.schema_ref
    return ref[1] if ref else 0


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """A recorded log re-sent: its own gaps (`speed` times faster), a fixed `rate`, or no gaps at all."""

    path: Path
    speed: float = 1.0
    rate: float | None = None
    as_fast_as_possible: bool = False
    correlate_by: str | None = None
    count: int | None = None
    duration_s: float | None = None
    chunk_bytes: int = CHUNK_BYTES
    skip_bad_lines: bool = False  # skip (and count) lines that are not events, instead of stopping

    def check(self) -> ReplayCheck:
        """Read the whole log (up to `count` events) before time zero: a torn or invalid line is an
        InputError with its file:line now, not after part of the run was sent; skipped ones are counted.
        """
        if not self.path.is_file():
            raise UsageError(f"{self.path}: no such file", hint="pass a log written by `evtool generate`")
        with self.path.open("rb") as handle:
            avro = handle.read(4) == b"Obj\x01"
        events = 0
        if avro:
            for _ in read_log(self.path):
                events += 1
                if self.count is not None and events >= self.count:
                    break
            return ReplayCheck(events, 0)
        keep_gaps = not self.as_fast_as_possible and self.rate is None
        parser = BlockParser(str(self.path), self.correlate_by, need_times=keep_gaps,
                             skip_bad_lines=self.skip_bad_lines)
        for at, chunk in read_chunks(self.path, self.chunk_bytes):
            events += len(parser.parse(at, chunk).starts)
            if self.count is not None and events >= self.count:
                return ReplayCheck(self.count, parser.bad_lines)
        return ReplayCheck(events, parser.bad_lines)

    def blocks(self, shard: int, workers: int) -> Iterator[EventBlock] | None:
        """This worker's share in blocks of columns (`EventBlock`); None for an Avro log (no recorded JSON).

        As fast as possible, worker i takes every N-th block of the file (no worker parses
        another's lines); with a rate or the recorded gaps it takes every N-th event, as `__call__`.
        """
        return self.shard_blocks((shard,), workers)

    def shard_blocks(self, shards: tuple[int, ...], workers: int) -> Iterator[EventBlock] | None:
        """The blocks of several shards at once, in order (a segment's local worker that owns several
        stripes): the log is read and parsed once for all of them."""
        if not self.path.is_file():
            raise UsageError(f"{self.path}: no such file", hint="pass a log written by `evtool generate`")
        with self.path.open("rb") as handle:
            if handle.read(4) == b"Obj\x01":
                return None
        return self._blocks(shards, workers)

    def _blocks(self, shards: tuple[int, ...], workers: int) -> Iterator[EventBlock]:
        keep_gaps = not self.as_fast_as_possible and self.rate is None
        parser = BlockParser(str(self.path), self.correlate_by, need_times=keep_gaps,
                             skip_bad_lines=self.skip_bad_lines)
        count = self.count
        limit = None if self.duration_s is None else round(self.duration_s * arrivals.NS)
        index = 0  # the plan's number of the chunk's first event
        first_time: int | None = None
        latest = 0
        for number, (at, chunk) in enumerate(read_chunks(self.path, self.chunk_bytes)):
            if count is not None and index >= count:
                return
            if self.as_fast_as_possible:
                if number % workers not in shards:
                    if count is not None:
                        index += _event_count(chunk)
                    continue
                columns = parser.parse(at, chunk)
                size = len(columns.starts)
                block = _block(columns, np.zeros(size, dtype=np.int64), parser)
                if count is not None and index + size > count:
                    block = block.head(count - index)
                index += size
                if len(block):
                    yield block
                continue
            columns = parser.parse(at, chunk)
            size = len(columns.starts)
            if count is not None:
                size = min(size, count - index)
            numbers = index + np.arange(size, dtype=np.int64)
            if self.rate is not None:
                offsets = np.rint(numbers * (arrivals.NS / self.rate)).astype(np.int64)
            else:
                assert columns.times is not None
                times = columns.times[:size]
                if first_time is None and size:
                    first_time = int(times[0])
                gaps = np.rint((times - (first_time or 0)) / self.speed).astype(np.int64)
                # out-of-order times: send at once (never before an earlier event)
                offsets = np.maximum.accumulate(np.concatenate(([latest], gaps)))[1:]
                if size:
                    latest = int(offsets[-1])
            ended = False
            if limit is not None:
                beyond = np.flatnonzero(offsets >= limit)
                if len(beyond):
                    size = int(beyond[0])
                    ended = True
            block = _block(columns, offsets[:size], parser).head(size)
            if len(shards) < workers:
                block = block.take(np.flatnonzero(np.isin(numbers[:size] % workers, shards)))
            index += size
            if len(block):
                yield block
            if ended:
                return

    def __call__(self, shard: int, workers: int) -> Plan:
        records = read_log(self.path, skip_bad_lines=self.skip_bad_lines)
        if self.count is not None:
            records = islice(records, self.count)
        if self.as_fast_as_possible:
            for event, raw in arrivals.shard(records, shard, workers):
                yield 0, to_out(event, self.correlate_by, raw)
            return
        if self.rate is not None:
            offsets = arrivals.constant_offsets(
                self.rate, duration_s=self.duration_s, count=self.count or 2**62
            )
            for offset, (event, raw) in arrivals.shard(zip(offsets, records, strict=False), shard, workers):
                yield offset, to_out(event, self.correlate_by, raw)
            return
        limit = None if self.duration_s is None else round(self.duration_s * arrivals.NS)
        first: int | None = None
        latest = 0
        for index, (event, raw) in enumerate(records):
            when = _time_ns(event, index)
            if first is None:
                first = when
            latest = max(latest, round((when - first) / self.speed))  # out-of-order times: send at once
            if limit is not None and latest >= limit:
                return
            if index % workers == shard:
                yield latest, to_out(event, self.correlate_by, raw)


def _time_ns(event: CloudEvent, index: int) -> int:
    if not event.time:
        raise InputError(
            f"event {index + 1} (id {event.id}) has no `time`, so its gap cannot be kept",
            hint="replay with --rate or --as-fast-as-possible",
        )
    try:
        when = dt.datetime.fromisoformat(event.time)
    except ValueError:
        raise InputError(
            f"event {index + 1} (id {event.id}): `time` {event.time!r} is not RFC 3339"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * arrivals.NS + delta.microseconds * 1000


@dataclass(frozen=True, slots=True)
class ReplayCheck:
    """What `ReplayPlan.check` found: the events the run will take and the bad lines it will skip."""

    events: int
    bad_lines: int


def read_log(path: Path, *, skip_bad_lines: bool = False) -> Iterator[tuple[CloudEvent, bytes | None]]:
    """Events of a JSONL (structured CloudEvents, one a line) or Avro log, lazily.

    JSONL lines are kept as they are (`raw`), so structured and batch modes re-send the
    recorded bytes without re-encoding them. `skip_bad_lines` passes over JSONL lines that
    are not events (`ReplayPlan.check` counted them) instead of raising.
    """
    if not path.is_file():
        raise UsageError(f"{path}: no such file", hint="pass a log written by `evtool generate`")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == b"Obj\x01":
        yield from ((event, None) for event in _read_avro(path))
        return
    with path.open("rb") as handle:
        for number, text in enumerate(handle, start=1):
            line = text.strip()
            if line:
                try:
                    event = CloudEvent.from_json_bytes(line, where=f"{path}:{number}")
                except EvtoolError:
                    if skip_bad_lines:
                        continue
                    raise
                yield event, line


def _read_avro(path: Path) -> Iterator[CloudEvent]:
    from evtool.events.codecs import read_avro

    with path.open("rb") as handle:
        yield from read_avro(handle, name=str(path))


# -- replay in blocks: the recorded bytes as columns, no object per event ------------------------
#
# Structured and batch modes send a replayed line as it is, so the plan needs of each event only
# its correlation key, type, dataschema version and (keeping gaps) time. A full JSON parse per line
# caps replay near 170,000 events/s; instead a block of whole lines (about a MiB) is read at once and
# those attributes are cut out of the compact JSON `evtool generate` writes with numpy, after
# checking, line by line, that the line has exactly that shape:
#
#   {"specversion":"1.0","id":"<UUID>","source":"…","type":"…","time":"…","datacontenttype":"…",
#    "dataschema":"…" followed by `,` or `}`
#
# (each key at its place, each value a string without escapes) and ending with `}`. These are the
# event's top-level attributes: nothing before them opens a nested value. Any other line (other key
# order, spaces, non-UUID ids, escapes) is parsed in full, so every log replays; only the speed
# differs. Past `dataschema` a line is not parsed (a line torn short is caught by its missing `}`,
# not every malformed one): what is recorded is what is sent.

_HEAD = b'{"specversion":"1.0","id":"'
_AFTER_ID = b'","source":"'
_ID_AT = len(_HEAD)  # 27
_SOURCE_QUOTE = _ID_AT + 36 + len(_AFTER_ID) - 1  # 74: the quote opening the source value
_MIN_FAST_LINE = 120
_DISTINCT_MAX = 128  # longer type or dataschema values are looked up one by one
_WINDOW = 320  # the attributes must end within a line's first _WINDOW bytes
_BETWEEN = (b'","type":"', b'","time":"', b'","datacontenttype":"', b'","dataschema":"')
_CLOSERS = np.array([0, 4, 8, 12, 16])  # quotes closing source, type, time, datacontenttype, dataschema
_ID_HEX_COLS = np.array([c for c in range(36) if c not in (8, 13, 18, 23)], dtype=np.int64)
_ID_DASH_COLS = np.array([8, 13, 18, 23], dtype=np.int64)
_HEX_VALUE = np.full(256, -1, dtype=np.int16)
for _digit in b"0123456789abcdef":
    _HEX_VALUE[_digit] = int(chr(_digit), 16)
for _digit in b"ABCDEF":
    _HEX_VALUE[_digit] = int(chr(_digit), 16)
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.strip() strips
KEY_DTYPE = np.dtype("V16")
_NO_OFFSETS: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)


@dataclass(slots=True, eq=False)
class EventBlock:
    """Consecutive events of a replayed log as columns; what batch dispatch needs, with no object per event.

    Event i is `raw[starts[i]:ends[i]]`, its structured JSON exactly as recorded. When `contiguous`,
    the events are consecutive lines of `raw` (one `\\n` after each), so a batch body is one slice.
    """

    raw: bytes
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    keys: npt.NDArray[np.void]  # correlation keys (16 bytes each)
    types: npt.NDArray[np.uint16]  # index into `type_names`
    versions: npt.NDArray[np.uint16]  # dataschema version, 0 when none
    offsets: npt.NDArray[np.int64]  # intended offset from time zero (ns); all 0 as fast as possible
    type_names: list[str]  # the plan's table, shared by its blocks (it only grows)
    where: str = "log"  # the file, for messages
    contiguous: bool = True

    def __len__(self) -> int:
        return len(self.starts)

    def line(self, index: int) -> bytes:
        return self.raw[int(self.starts[index]) : int(self.ends[index])]

    def joined(self, start: int, stop: int) -> bytes:
        """Events start..stop-1 joined by `,` (a batch body without its brackets)."""
        if self.contiguous:
            return self.raw[int(self.starts[start]) : int(self.ends[stop - 1])].replace(b"\n", b",")
        return b",".join([self.line(i) for i in range(start, stop)])

    def bracketed(self, start: int, stop: int) -> bytes | memoryview:
        """Events start..stop-1 as a JSON array: the batch body, built with one copy of the bytes."""
        if not self.contiguous:
            return b"[" + self.joined(start, stop) + b"]"
        first = int(self.starts[start])
        end = int(self.ends[stop - 1])
        body = np.empty(end - first + 2, dtype=np.uint8)
        body[1:-1] = np.frombuffer(self.raw, dtype=np.uint8, count=end - first, offset=first)
        body[0] = ord("[")
        body[-1] = ord("]")
        body[self.ends[start : stop - 1] - (first - 1)] = ord(",")  # the newlines between events
        return body.data

    def text(self, start: int, stop: int) -> bytes:
        """Events start..stop-1 as JSONL (a newline after each)."""
        if self.contiguous:
            return self.raw[int(self.starts[start]) : int(self.ends[stop - 1]) + 1]
        return b"".join([self.line(i) + b"\n" for i in range(start, stop)])

    def out_event(self, index: int) -> OutEvent:
        """Event `index` as an object, for a target that needs one (parsed now, once)."""
        line = self.line(index)
        return OutEvent(
            event=CloudEvent.from_json_bytes(line, where=self.where),
            key=bytes(self.keys[index]),
            schema_version=int(self.versions[index]),
            raw=line,
        )

    def take(self, indices: npt.NDArray[np.intp]) -> EventBlock:
        """The events at `indices` (a worker's share), sharing `raw`."""
        return EventBlock(
            self.raw,
            self.starts[indices],
            self.ends[indices],
            self.keys[indices],
            self.types[indices],
            self.versions[indices],
            self.offsets[indices] if len(self.offsets) else self.offsets,
            self.type_names,
            self.where,
            contiguous=False,
        )

    def head(self, count: int) -> EventBlock:
        """The first `count` events."""
        return EventBlock(
            self.raw,
            self.starts[:count],
            self.ends[:count],
            self.keys[:count],
            self.types[:count],
            self.versions[:count],
            self.offsets[:count],
            self.type_names,
            self.where,
            self.contiguous,
        )


@dataclass(slots=True)
class _Columns:
    raw: bytes
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    keys: npt.NDArray[np.void]
    types: npt.NDArray[np.uint16]
    versions: npt.NDArray[np.uint16]
    times: npt.NDArray[np.int64] | None
    fast: int = 0  # how many lines took the fast path (for tests and benchmarks)
    contiguous: bool = True  # False when bad lines were left out


def read_chunks(path: Path, size: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """The file in pieces of about `size` bytes cut after a newline: (byte offset in the file, bytes).

    Every piece ends with a newline (one is added to a last line that has none).
    """
    at = 0
    rest = b""
    with path.open("rb") as handle:
        while piece := handle.read(size):
            data = rest + piece if rest else piece
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            chunk, rest = data[:cut], data[cut:]
            yield at, chunk
            at += cut
    if rest:
        yield at, rest + b"\n"


@dataclass(slots=True)
class BlockParser:
    """Turns chunks of a JSONL log into columns; keeps the type and dataschema tables across chunks."""

    where: str
    correlate_by: str | None = None
    need_times: bool = False
    skip_bad_lines: bool = False  # lines that are not events are left out (and counted) instead of raising
    bad_lines: int = 0
    type_names: list[str] = field(default_factory=list)
    _type_index: dict[str, int] = field(default_factory=dict)
    _raw_types: dict[bytes, int] = field(default_factory=dict)
    _raw_versions: dict[bytes, int] = field(default_factory=dict)
    _counted: tuple[int, int] = (0, 0)  # (bytes, newlines) counted so far, for line numbers in messages

    def parse(self, at: int, chunk: bytes) -> _Columns:
        """Columns of the events in `chunk` (whole lines from byte `at` of the file); blank lines skipped."""
        arr = np.frombuffer(chunk, dtype=np.uint8)
        ends = np.flatnonzero(arr == 10)
        numbers: list[int] | None = None
        if not _clean(arr, ends):
            chunk, numbers = _normalized(chunk)
            arr = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
        n = len(ends)
        starts = np.empty(n, dtype=np.int64)
        if n:
            starts[0] = 0
            starts[1:] = ends[:-1] + 1
        keys = np.zeros(n, dtype=KEY_DTYPE)
        types = np.zeros(n, dtype=np.uint16)
        versions = np.zeros(n, dtype=np.uint16)
        times = np.zeros(n, dtype=np.int64) if self.need_times else None
        by_id = not self.correlate_by or self.correlate_by == "id"
        if by_id and n:
            ok, key_bytes, spans = _fast_fields(arr, starts, ends)
            slow = self._fill_fast(chunk, ok, key_bytes, spans, keys, types, versions, times)
        else:
            slow = np.arange(n)
        first_line = self._line_number(at) if len(slow) else 0
        bad: list[int] = []
        for i in slow.tolist():
            number = first_line + (numbers[i] if numbers is not None else i)
            line = chunk[int(starts[i]) : int(ends[i])]
            try:
                event = CloudEvent.from_json_bytes(line, where=f"{self.where}:{number}")
                if times is not None:
                    times[i] = _time_ns(event, number - 1)
            except EvtoolError:
                if not self.skip_bad_lines:
                    raise
                bad.append(i)
                continue
            keys[i] = correlation_key(correlation_value(event, self.correlate_by))
            types[i] = self._type(event.type)
            versions[i] = _version(event)
        columns = _Columns(chunk, starts, ends.astype(np.int64), keys, types, versions, times, n - len(slow))
        if bad:
            self.bad_lines += len(bad)
            keep = np.ones(n, dtype=bool)
            keep[bad] = False
            columns = _Columns(chunk, starts[keep], columns.ends[keep], keys[keep], types[keep],
                               versions[keep], None if times is None else times[keep], columns.fast,
                               contiguous=False)
        return columns

    def _line_number(self, at: int) -> int:
        """The number of the line that starts at byte `at` (counted on from the last call: O(file) in all)."""
        done, lines = self._counted
        if at < done:
            done, lines = 0, 0
        with open(self.where, "rb") as handle:
            handle.seek(done)
            while done < at:
                piece = handle.read(min(CHUNK_BYTES, at - done))
                if not piece:
                    break
                lines += piece.count(b"\n")
                done += len(piece)
        self._counted = (done, lines)
        return lines + 1

    def _type(self, name: str) -> int:
        index = self._type_index.get(name)
        if index is None:
            index = self._type_index[name] = len(self.type_names)
            self.type_names.append(name)
        return index

    def _fill_fast(
        self,
        chunk: bytes,
        ok: npt.NDArray[np.bool_],
        key_bytes: npt.NDArray[np.uint8],
        spans: npt.NDArray[np.int64],
        keys: npt.NDArray[np.void],
        types: npt.NDArray[np.uint16],
        versions: npt.NDArray[np.uint16],
        times: npt.NDArray[np.int64] | None,
    ) -> npt.NDArray[np.intp]:
        """Fill the columns of the lines that passed the shape check; returns the lines left to parse.

        Type and dataschema are looked up once per distinct pair (`_distinct`), not once per line.
        """
        rows = np.flatnonzero(ok)
        sel = spans[rows]
        type_of = np.full(len(rows), -1, dtype=np.int64)
        version_of = np.full(len(rows), -1, dtype=np.int64)
        if len(rows):
            first, inverse, exact = _distinct(chunk, [(sel[:, 0], sel[:, 1]), (sel[:, 2], sel[:, 3])])
            pairs = [self._type_and_version(chunk[a:b], chunk[c:d]) for a, b, c, d in sel[first, :4].tolist()]
            table = np.array(pairs, dtype=np.int64).reshape(-1, 2)
            type_of = np.where(exact, table[inverse, 0], -1)
            version_of = np.where(exact, table[inverse, 1], -1)
            for k in np.flatnonzero(~exact).tolist():  # values too long for `_distinct`: one by one
                a, b, c, d = sel[k, :4].tolist()
                type_of[k], version_of[k] = self._type_and_version(chunk[a:b], chunk[c:d])
        good = (type_of >= 0) & (version_of >= 0)
        if times is not None:
            time_array = np.array([_iso_ns(chunk[a:b]) for a, b in sel[:, 4:6].tolist()], dtype=np.int64)
            good &= time_array >= 0  # a time this quick path does not read: the full parse says why
            times[rows[good]] = time_array[good]
        types[rows[good]] = type_of[good]
        versions[rows[good]] = version_of[good]
        keys[rows[good]] = np.ascontiguousarray(key_bytes[rows[good]]).view(KEY_DTYPE).ravel()
        ok = ok.copy()
        ok[rows[~good]] = False
        return np.flatnonzero(~ok)

    def _type_and_version(self, type_text: bytes, dataschema: bytes) -> tuple[int, int]:
        """Type index and schema version of raw attribute values; -1 for text with escapes (full parse)."""
        index = self._raw_types.get(type_text)
        if index is None:
            index = self._raw_types[type_text] = -1 if b"\\" in type_text else self._type(_text(type_text))
        version = self._raw_versions.get(dataschema)
        if version is None:
            ref = parse_dataschema(_text(dataschema))
            version = -1 if b"\\" in dataschema else min(ref[1], 0xFFFF) if ref else 0
            self._raw_versions[dataschema] = version
        return index, version


def _distinct(
    chunk: bytes, columns: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Rows grouped by the byte strings chunk[start:end] of each column: (first row of each group,
    group of each row, whether the row's grouping is exact).

    Each string is read as the 8-byte words that cover it (the last one overlapping, short ones
    masked) and the words hashed; every row is then compared word for word with its group's first
    row, so a hash collision only sends rows to the slow path. Strings over `_DISTINCT_MAX` bytes
    are not grouped (not exact).
    """
    words = np.ndarray((len(chunk) - 7,), dtype="<u8", buffer=chunk, strides=(1,))
    n = len(columns[0][0])
    digest = np.zeros(n, dtype=np.uint64)
    exact = np.ones(n, dtype=bool)
    matrix: list[npt.NDArray[np.uint64]] = []
    for starts, ends in columns:
        length = ends - starts
        exact &= (length <= _DISTINCT_MAX) & (starts + 8 <= len(chunk))
        length = np.minimum(length, _DISTINCT_MAX)
        mask = np.where(length >= 8, np.uint64(0xFFFFFFFFFFFFFFFF),
                        (np.uint64(1) << (np.minimum(length, 7) * 8).astype(np.uint64)) - np.uint64(1))
        last = np.maximum(length - 8, 0)
        safe = np.minimum(starts, len(words) - 1)
        matrix.append(length.astype(np.uint64))
        for k in range(max(1, -(-int(length.max()) // 8))):
            word = words[np.minimum(safe + np.minimum(8 * k, last), len(words) - 1)] & mask
            matrix.append(word)
            digest = (digest ^ word) * np.uint64(0x9E3779B97F4A7C15)
        digest ^= length.astype(np.uint64)
    _, first, inverse = np.unique(digest, return_index=True, return_inverse=True)
    table = np.stack(matrix, axis=1)
    exact &= (table == table[first[inverse]]).all(axis=1)
    return first, inverse.ravel(), exact


def _clean(arr: npt.NDArray[np.uint8], ends: npt.NDArray[np.intp]) -> bool:
    """No blank lines and no whitespace around any line (so lines are exactly as a reader strips them)."""
    if not len(ends) or _SPACE[arr[0]] or ends[-1] != len(arr) - 1:
        return False
    if bool(_SPACE[arr[ends[ends > 0] - 1]].any()):
        return False
    return not bool(_SPACE[arr[ends[:-1] + 1]].any())


def _normalized(chunk: bytes) -> tuple[bytes, list[int]]:
    """The chunk with lines stripped and blank ones left out, and the chunk's line index of each kept line."""
    lines: list[bytes] = []
    numbers: list[int] = []
    for offset, text in enumerate(chunk.split(b"\n")[:-1]):
        line = text.strip()
        if line:
            lines.append(line)
            numbers.append(offset)
    return (b"\n".join(lines) + b"\n" if lines else b""), numbers


def _fast_fields(
    arr: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Which lines have the compact shape, their id bytes, and (start, end) of type, dataschema, time.

    Never passes over the `data` that makes up most of a line: the fixed parts are compared as
    8-byte words read at any byte offset, and quotes are searched in a copy of the lines' heads.
    """
    n = len(starts)
    size = len(arr)
    ok = (ends - starts > _MIN_FAST_LINE) & (starts + _WINDOW <= size)
    if not ok.any():
        return ok, np.zeros((n, 16), dtype=np.uint8), np.zeros((n, 6), dtype=np.int64)
    base = np.where(ok, starts, 0)
    words = np.ndarray((size - 7,), dtype="<u8", buffer=arr, strides=(1,))  # the 8 bytes at each offset
    ok &= _matches(words, base, _HEAD) & _matches(words, base + _ID_AT + 36, _AFTER_ID)
    ids = sliding_window_view(arr, 36)[base + _ID_AT]
    ok &= (ids[:, _ID_DASH_COLS] == ord("-")).all(axis=1)
    nibbles = _HEX_VALUE[ids[:, _ID_HEX_COLS]]
    ok &= (nibbles >= 0).all(axis=1)
    key_bytes = (nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).astype(np.uint8)
    # the value-closing quotes of source, type, time, datacontenttype and dataschema: quotes number
    # 0, 4, 8, 12 and 16 after the one that opens source, when the keys between are as expected
    width = _WINDOW - _SOURCE_QUOTE - 1
    found = np.flatnonzero(sliding_window_view(arr, width)[base + _SOURCE_QUOTE + 1] == ord('"'))
    row_first = np.searchsorted(found, np.arange(n) * width)
    row_count = np.diff(np.append(row_first, len(found)))
    ok &= row_count > _CLOSERS[-1]
    pick = np.minimum(row_first[:, None] + _CLOSERS, max(len(found) - 1, 0))
    closers = (found[pick] if len(found) else np.zeros((n, len(_CLOSERS)), dtype=np.int64)) % width
    closers += base[:, None] + _SOURCE_QUOTE + 1
    ok &= closers[:, -1] + 1 < ends
    closers = np.where(ok[:, None], closers, base[:, None] + _SOURCE_QUOTE)  # rejected rows read nothing
    for column, between in enumerate(_BETWEEN):
        ok &= _matches(words, closers[:, column], between)
    after = arr[closers[:, -1] + 1]
    ok &= (after == ord(",")) | (after == ord("}"))
    ok &= arr[ends - 1] == ord("}")  # a line torn short (a crash while writing) goes to the full parse
    ok &= (arr[closers - 1] != ord("\\")).all(axis=1)
    spans = np.stack(
        [
            closers[:, 0] + len(_BETWEEN[0]),  # type
            closers[:, 1],
            closers[:, 3] + len(_BETWEEN[3]),  # dataschema
            closers[:, 4],
            closers[:, 1] + len(_BETWEEN[1]),  # time
            closers[:, 2],
        ],
        axis=1,
    )
    return ok, key_bytes, spans


def _matches(words: npt.NDArray[np.uint64], at: npt.NDArray[np.int64], text: bytes) -> npt.NDArray[np.bool_]:
    """Whether the bytes at each offset in `at` are `text` (8 or more bytes), a word at a time."""
    ok = np.ones(len(at), dtype=bool)
    last = len(words) - 1
    for k in [*range(0, len(text) - 7, 8), len(text) - 8]:
        expected = np.uint64(int.from_bytes(text[k : k + 8], "little"))
        ok &= words[np.minimum(at + k, last)] == expected
    return ok


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _block(columns: _Columns, offsets: npt.NDArray[np.int64], parser: BlockParser) -> EventBlock:
    return EventBlock(
        columns.raw,
        columns.starts,
        columns.ends,
        columns.keys,
        columns.types,
        columns.versions,
        offsets,
        parser.type_names,
        parser.where,
        columns.contiguous,
    )


def _event_count(chunk: bytes) -> int:
    """How many events `BlockParser.parse` finds in `chunk` (its non-blank lines), without parsing."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    return len(ends) if _clean(arr, ends) else len(_normalized(chunk)[1])


def _iso_ns(text: bytes) -> int:
    """RFC 3339 time to ns since the epoch, as `_time_ns` reads it; -1 when it is not one."""
    try:
        when = dt.datetime.fromisoformat(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return -1
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    ns = (delta.days * 86_400 + delta.seconds) * arrivals.NS + delta.microseconds * 1000
    return ns if ns >= 0 else -1
