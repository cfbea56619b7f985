"""A range of a Kafka topic as replay input: event sourcing, `evtool replay kafka://HOST:PORT/orders`.

The range is resolved once, before time zero (`resolve_range`): per partition a first offset
(`--from` time via offsets_for_times, `--from-offset`, else the log start) and an end offset
(`--to` time via offsets_for_times, `--to-offset`, else the high watermark *now*). Reading stops at
those ends, so records a live producer appends meanwhile never make a replay longer.

`TopicReplayPlan` is a plan factory like `ReplayPlan`: it yields (offset from time zero, event) with
the gaps of the records' timestamps (`speed` times faster), at a fixed `rate`, or with no gaps. The
partitions are merged by timestamp, and a partition's records keep their order (the merge never
reorders one input), so each key's events keep theirs. With `workers` > 1 each sender takes whole
partitions (keys never cross senders) and its share of a `rate`.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from evtool.errors import EvtoolError, InputError, TargetError, UsageError
from evtool.events.envelope import CloudEvent
from evtool.load import arrivals
from evtool.load.targets.kafka import OPEN_TIMEOUT_S, parse_url

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

    from evtool.load.plan import Plan

_BATCH = 5000
_PAUSE_AT = 20_000  # records buffered for one partition before it is paused (the merge waits on another)
_READ_TIMEOUT_S = 30.0  # no record of an unfinished partition for this long: the range cannot be read


def is_topic(source: str) -> bool:
    return source.lower().startswith("kafka:")


def record_event(message: Message) -> CloudEvent:
    """A Kafka record as a CloudEvent (binary mode: `ce_` headers; else a structured value)."""
    return decode_record(message)[0]


def decode_record(message: Message) -> tuple[CloudEvent, bytes | None]:
    """The record's event, and its value when that is the structured event as recorded (else None)."""
    raw_headers: Any = message.headers() or []
    headers = {}
    for name, value in raw_headers:
        text = value.decode() if isinstance(value, bytes) else (value or "")
        if name.startswith("ce_"):
            headers["ce-" + name[3:]] = text
        elif name.lower() == "content-type":
            headers["content-type"] = text
    body = message.value() or b""
    binary = "ce-id" in headers
    if not binary and "content-type" not in headers:
        headers["content-type"] = "application/cloudevents+json"
    where = f"partition {message.partition()} offset {message.offset()}"
    return CloudEvent.from_http(headers, body, where=where)[0], None if binary else body


def parse_time(text: str, *, option: str) -> int:
    """An RFC 3339 / ISO 8601 time (`2026-11-30T10:00:00Z`; no zone: UTC) as epoch milliseconds."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: not a time", hint="e.g. 2026-11-30T10:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def parse_offsets(text: str, *, option: str) -> dict[int, int] | int:
    """`100` (every partition) or `0:100,1:250` (per partition)."""
    text = text.strip()
    try:
        if ":" not in text:
            value = int(text)
            if value < 0:
                raise ValueError
            return value
        offsets: dict[int, int] = {}
        for item in text.split(","):
            partition, _, offset = item.partition(":")
            p, o = int(partition), int(offset)
            if p < 0 or o < 0:
                raise ValueError
            offsets[p] = o
        return offsets
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected an offset (100) or partition:offset pairs "
                         "(0:100,1:250)", hint="offsets and partitions are 0 or more") from None


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """`--from`/`--to` (epoch ms) or `--from-offset`/`--to-offset`, as given."""

    from_ms: int | None = None
    to_ms: int | None = None
    from_offsets: dict[int, int] | int | None = None
    to_offsets: dict[int, int] | int | None = None


@dataclass(frozen=True, slots=True)
class TopicRange:
    """What a topic replay reads: per partition [start, end), fixed when the replay began."""

    servers: str
    topic: str
    starts: tuple[tuple[int, int], ...]
    ends: tuple[tuple[int, int], ...]
    first_ms: int  # the earliest record timestamp in the range: the replay's time zero
    properties: tuple[tuple[str, str], ...] = ()  # librdkafka connection settings, resolved

    @property
    def records(self) -> int:
        """Offsets in the range (records at most: transaction markers and compaction take some)."""
        ends = dict(self.ends)
        return sum(max(0, ends[p] - start) for p, start in self.starts)

    def describe(self) -> dict[str, Any]:
        return {"topic": self.topic, "bootstrap.servers": self.servers, "records": self.records,
                "start_offsets": {str(p): o for p, o in self.starts},
                "end_offsets": {str(p): o for p, o in self.ends}}


def _consumer(servers: str, properties: dict[str, str]) -> Consumer:
    from confluent_kafka import Consumer, KafkaException

    try:
        return Consumer({**properties, "bootstrap.servers": servers, "group.id": "evtool-replay",
                         "client.id": "evtool-replay", "enable.auto.commit": False,
                         "enable.auto.offset.store": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed", "allow.auto.create.topics": False,
                         "logger": logging.Logger("evtool.replay.kafka")})
    except KafkaException as exc:
        raise UsageError(f"Kafka configuration: {exc.args[0]}",
                         hint="check -X and [kafka] in evtool.toml") from None


def resolve_range(url: str, request: RangeRequest, properties: dict[str, str] | None = None,
                  default_servers: str | None = None) -> TopicRange:
    """The range's concrete offsets and its first timestamp, read from the broker now."""
    from confluent_kafka import KafkaException, TopicPartition

    servers, topic = parse_url(url, default_servers, option="replay")
    props = dict(properties or {})
    consumer = _consumer(servers, props)
    try:
        try:
            metadata = consumer.list_topics(topic, OPEN_TIMEOUT_S)
        except KafkaException as exc:
            raise TargetError(f"Kafka {servers}: cannot read metadata for topic {topic} ({exc.args[0]})",
                              hint="is the broker up?") from None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise TargetError(f"Kafka {servers}: topic {topic} is not usable", hint="check the topic's name")
        partitions = sorted(found.partitions)
        for given in (request.from_offsets, request.to_offsets):
            if isinstance(given, dict) and (unknown := sorted(set(given) - set(partitions))):
                raise UsageError(f"partition {unknown[0]}: {topic} has partitions 0-{partitions[-1]}")
        marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=OPEN_TIMEOUT_S,
                                                   cached=False) for p in partitions}
        starts = _bounds(consumer, topic, partitions, marks, request.from_ms, request.from_offsets, low=True)
        ends = _bounds(consumer, topic, partitions, marks, request.to_ms, request.to_offsets, low=False)
        starts = {p: min(max(starts[p], marks[p][0]), marks[p][1]) for p in partitions}
        ends = {p: max(min(ends[p], marks[p][1]), starts[p]) for p in partitions}
        first_ms = _first_timestamp(consumer, topic, starts, ends)
    finally:
        consumer.close()
    return TopicRange(servers, topic, tuple(sorted(starts.items())), tuple(sorted(ends.items())), first_ms,
                      tuple(sorted(props.items())))


def _bounds(consumer: Consumer, topic: str, partitions: list[int], marks: dict[int, tuple[int, int]],
            at_ms: int | None, offsets: dict[int, int] | int | None, *, low: bool) -> dict[int, int]:
    from confluent_kafka import TopicPartition

    if at_ms is not None:
        found = consumer.offsets_for_times([TopicPartition(topic, p, at_ms) for p in partitions],
                                           timeout=OPEN_TIMEOUT_S)
        # -1: no record at or after that time, so the range ends (or starts) at the end
        return {tp.partition: tp.offset if tp.offset >= 0 else marks[tp.partition][1] for tp in found}
    if isinstance(offsets, int):
        return dict.fromkeys(partitions, offsets)
    default = {p: marks[p][0] if low else marks[p][1] for p in partitions}
    return {**default, **(offsets or {})}


def _first_timestamp(consumer: Consumer, topic: str, starts: dict[int, int], ends: dict[int, int]) -> int:
    """The smallest timestamp of each partition's first record in range (0 for an empty range)."""
    from confluent_kafka import TopicPartition

    wanted = {p for p in starts if ends[p] > starts[p]}
    if not wanted:
        return 0
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in sorted(wanted)])
    firsts: list[int] = []
    started = time.monotonic()
    while wanted:
        for message in consumer.consume(100, 0.2):
            p = message.partition() or 0
            if p not in wanted:
                continue
            if message.error() is not None:
                if _at_end(consumer, topic, p, ends[p]):
                    wanted.discard(p)  # only markers (an aborted or compacted stretch) in range
                continue
            if (message.offset() or 0) < ends[p]:
                firsts.append(message.timestamp()[1])
            wanted.discard(p)
        if wanted and time.monotonic() - started > _READ_TIMEOUT_S:
            raise TargetError(f"Kafka: partitions {sorted(wanted)} of {topic} returned no record "
                              f"within {_READ_TIMEOUT_S:.0f} s", hint="is the broker up?")
    consumer.unassign()
    return min(firsts) if firsts else 0


def _at_end(consumer: Consumer, topic: str, partition: int, end: int) -> bool:
    from confluent_kafka import TopicPartition

    position = consumer.position([TopicPartition(topic, partition)])[0].offset
    return position >= end


@dataclass(frozen=True, slots=True)
class TopicRecord:
    timestamp_ms: int
    partition: int
    offset: int
    event: CloudEvent
    raw: bytes | None  # the structured JSON as recorded (None for a binary-mode record)


def read_range(source: TopicRange, partitions: set[int] | None = None, *,
               skip_bad: bool = False) -> Iterator[TopicRecord]:
    """The range's records (of `partitions`, else all), merged by timestamp, each partition in order."""
    from confluent_kafka import TopicPartition

    ends = dict(source.ends)
    wanted = {p: start for p, start in source.starts
              if ends[p] > start and (partitions is None or p in partitions)}
    if not wanted:
        return
    consumer = _consumer(source.servers, dict(source.properties))
    topic = source.topic
    buffers: dict[int, collections.deque[TopicRecord]] = {p: collections.deque() for p in wanted}
    unfinished = set(wanted)
    paused: set[int] = set()
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in sorted(wanted.items())])
        heap: list[tuple[int, int, int]] = []  # (timestamp, partition, offset) of each buffer's head
        while unfinished or heap:
            # a partition with nothing buffered yet may still hold an earlier record: read until each
            # unfinished partition has one (or ended), then the earliest head goes out
            quiet_since = time.monotonic()
            while any(not buffers[p] for p in unfinished):
                got = consumer.consume(_BATCH, 0.1)
                if got:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > _READ_TIMEOUT_S:
                    raise TargetError(f"Kafka {source.servers}: {topic} partitions "
                                      f"{sorted(p for p in unfinished if not buffers[p])} returned nothing "
                                      f"for {_READ_TIMEOUT_S:.0f} s before the range's end",
                                      hint="were records deleted meanwhile, or is the broker down?")
                for message in got:
                    p = message.partition() or 0
                    if p not in unfinished:
                        continue
                    if message.error() is not None:
                        if _at_end(consumer, topic, p, ends[p]):
                            unfinished.discard(p)
                        continue
                    offset = message.offset() or 0
                    if offset >= ends[p]:
                        unfinished.discard(p)
                        continue
                    try:
                        event, raw = decode_record(message)
                    except EvtoolError as exc:
                        if skip_bad:
                            continue
                        raise InputError(f"{topic}: {exc.message}",
                                         hint="replay with --skip-bad-lines to skip records that are not "
                                         "events") from None
                    was_empty = not buffers[p]
                    buffers[p].append(TopicRecord(message.timestamp()[1], p, offset, event, raw))
                    if was_empty:
                        heapq.heappush(heap, (message.timestamp()[1], p, offset))
                    if offset >= ends[p] - 1:
                        unfinished.discard(p)
                    if len(buffers[p]) >= _PAUSE_AT and p not in paused:
                        consumer.pause([TopicPartition(topic, p)])
                        paused.add(p)
            if not heap:
                break
            _, p, _ = heapq.heappop(heap)
            record = buffers[p].popleft()
            yield record
            if buffers[p]:
                head = buffers[p][0]
                heapq.heappush(heap, (head.timestamp_ms, p, head.offset))
            if p in paused and len(buffers[p]) < _PAUSE_AT // 2:
                consumer.resume([TopicPartition(topic, p)])
                paused.discard(p)
    finally:
        consumer.close()


@dataclass(frozen=True, slots=True)
class TopicReplayPlan:
    """A topic range re-sent: its records' gaps (`speed` times faster), a fixed `rate`, or no gaps."""

    source: TopicRange
    speed: float = 1.0
    rate: float | None = None
    as_fast_as_possible: bool = False
    correlate_by: str | None = None
    count: int | None = None
    duration_s: float | None = None
    skip_bad: bool = False

    def shard_partitions(self, shard: int, workers: int) -> set[int]:
        return {p for p, _ in self.source.starts if p % workers == shard}

    def __call__(self, shard: int, workers: int) -> Plan:
        from evtool.load.plan import to_out  # numpy and the replay machinery: not for record_event's users

        records = read_range(self.source, self.shard_partitions(shard, workers) if workers > 1 else None,
                             skip_bad=self.skip_bad)
        limit = None if self.duration_s is None else round(self.duration_s * arrivals.NS)
        count = self.count if workers == 1 or self.count is None else -(-self.count // workers)
        share = self.rate / workers if self.rate is not None else None
        latest = 0
        for index, record in enumerate(records):
            if count is not None and index >= count:
                return
            if self.as_fast_as_possible:
                offset = 0
            elif share is not None:
                offset = round(index * arrivals.NS / share)
            else:  # out-of-order timestamps: at once (never before an earlier record)
                gap = (record.timestamp_ms - self.source.first_ms) * 1_000_000
                offset = latest = max(latest, round(gap / self.speed))
            if limit is not None and offset >= limit:
                return
            yield offset, to_out(record.event, self.correlate_by, record.raw)


def snapshot(source: TopicRange, out: IO[bytes], *, count: int | None = None, skip_bad: bool = False) -> int:
    """The range as a local log, one structured CloudEvent per line (what `evtool generate` writes)."""
    from evtool.events.codecs import write_jsonl

    events = (record.event for record in read_range(source, skip_bad=skip_bad))
    if count is not None:
        events = (event for _, event in zip(range(count), events, strict=False))
    return write_jsonl(events, out)
