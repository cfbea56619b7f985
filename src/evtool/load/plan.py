"""Plans: which event leaves when. An arrival process (or a recorded log's own gaps) zipped with events.

A plan factory is a small picklable object: each sender process calls it with its shard index
and builds its own lazy plan, so `--workers N` never ships events between processes and
never holds a run in memory.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from evtool.errors import InputError, UsageError
from evtool.events.envelope import CloudEvent
from evtool.load import arrivals
from evtool.load.targets.base import OutEvent
from evtool.results.runlog import EventIds, correlation_key

Plan = Iterator[tuple[int, OutEvent]]
LINK_EXTENSIONS = ("correlationid", "causationid")  # extensions that name another event's id
RENAMED_ROOTS = 1 << 18  # chain roots whose new ids are remembered for the links that follow


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


@dataclass(frozen=True, slots=True)
class GeneratedPlan:
    """Events from a generator factory, at the arrival times of `arrival` (this worker's share)."""

    arrival: ArrivalSpec
    events: Callable[[int, int], Iterable[CloudEvent]]  # (shard, workers) -> lazy events; picklable
    correlate_by: str | None = None
    structured_ids: bool = True  # give events `StructuredIds` (False: keep the generator's ids)

    def __call__(self, shard: int, workers: int) -> Plan:
        offsets = arrivals.shard(self.arrival.offsets(), shard, workers)
        events = iter(self.events(shard, workers))
        if not self.structured_ids:
            for offset in offsets:
                event = next(events, None)
                if event is None:
                    return
                yield offset, to_out(event, self.correlate_by)
            return
        ids = StructuredIds(shard)
        by_id = not self.correlate_by or self.correlate_by == "id"
        for offset in offsets:
            event = next(events, None)
            if event is None:
                return
            key = ids.assign(event)
            yield offset, (OutEvent(event=event, key=key, schema_version=_version(event)) if by_id
                           else to_out(event, self.correlate_by))


class StructuredIds:
    """Gives generated events structured ids (`runlog.EventIds`), so the report joins them without sorting.

    The generator's own ids are replaced as the events leave the plan, in plan order (the
    sequence number). Links between events (`correlationid`, `causationid` naming the id of the
    event that started a chain, as flows write them) follow: the new ids of the last
    `RENAMED_ROOTS` chain roots (events whose correlationid is their own id) are remembered;
    a link to an older root keeps the generator's id. Ids stay unique (shard and sequence
    number) and valid CloudEvents ids (UUID strings); `evtool generate` keeps its seeded ids.
    """

    def __init__(self, shard: int, nonce: int | None = None) -> None:
        self._ids = EventIds(shard, nonce)
        self._roots: dict[str, str] = {}

    def assign(self, event: CloudEvent) -> bytes:
        """Rename `event` (and its links); returns the correlation key of its new id."""
        new_id, key = self._ids.next()
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

    def __call__(self, shard: int, workers: int) -> Plan:
        records = read_log(self.path)
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


def read_log(path: Path) -> Iterator[tuple[CloudEvent, bytes | None]]:
    """Events of a JSONL (structured CloudEvents, one a line) or Avro log, lazily.

    JSONL lines are kept as they are (`raw`), so structured and batch modes re-send the
    recorded bytes without re-encoding them.
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
                yield CloudEvent.from_json_bytes(line, where=f"{path}:{number}"), line


def _read_avro(path: Path) -> Iterator[CloudEvent]:
    from evtool.events.codecs import read_avro

    with path.open("rb") as handle:
        yield from read_avro(handle, name=str(path))
