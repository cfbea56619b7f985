"""Read the events topic back between the offsets a run recorded at acknowledgement.

Why `assign()` to exact partitions and offsets, with no consumer group commit: the audit must
read what the broker holds for *this run* and change nothing (no committed offsets, no group
rebalance of someone else's consumers). Each partition is read from the run's first acked
offset (or the log start, when retention or `kafka-delete-records` removed it) through its last
acked offset, then on into a short tail, because what a run leaves behind its last
acknowledgement matters (a retried message that landed after it, a send that timed out but was
written: unknown outcomes, duplicates). The tail ends at the high watermark taken before
reading, or after `tail` records in a row that are not of this run (other producers' traffic),
so neither a live topic nor a busy one can make the audit endless. Records come in batches
from librdkafka (`consume`); per record only the CloudEvents id, `partitionkey` and `sequence`
are kept (binary mode: three `ce_` headers; structured mode: a JSON parse).
"""

from __future__ import annotations

import binascii
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from evtool.errors import TargetError
from evtool.events.envelope import PARTITIONKEY, SEQUENCE, CloudEvent, parse_sequence
from evtool.results.delivery import PartitionRange
from evtool.results.runlog import correlation_key

BATCH = 256  # records per consume() call (measured: 10,000 reads 100k records 1.8x slower, cache misses)
TAIL = 1_000  # past the last acked offset: stop after this many records in a row of other producers
POLL_S = 0.5
METADATA_TIMEOUT_S = 10.0
NO_SEQUENCE = -1


@dataclass(slots=True)
class TopicRecords:
    """The records read, as columns in read order (per partition: offset order)."""

    keys: npt.NDArray[np.void]  # correlation key (V16); zero bytes: not a CloudEvent
    partitions: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.int64]
    key_codes: npt.NDArray[np.int64]  # partitionkey as a small integer (-1: none)
    sequences: npt.NDArray[np.int64]  # NO_SEQUENCE: none
    ids: list[bytes]  # the CloudEvents id of each record, UTF-8 (b"" when none)
    ranges: list[PartitionRange] = field(default_factory=list)
    read_s: float = 0.0
    complete: bool = True
    problems: list[str] = field(default_factory=list)


KeyOf = Callable[[str, CloudEvent | None], bytes]


def read_range(
    servers: str,
    topic: str,
    bounds: dict[int, tuple[int, int]],
    key_of: KeyOf | None,
    *,
    properties: dict[str, str] | None = None,
    needs_event: bool = False,
    timeout_s: float = 120.0,
    is_ours: Callable[[bytes], bool] = lambda key: True,
    tail: int = TAIL,
) -> TopicRecords:
    """Every record of `topic` in `bounds` ({partition: (first, last) acked offset}), read once.

    `key_of(id, event)` gives a record's correlation key (the run's keys are correlation keys) from
    the whole decoded CloudEvent, with `needs_event` (a `--correlate-by` path); None: the id's key.
    `is_ours(key)` tells a record of the run from another producer's, in the tail.
    """
    from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

    config: dict[str, Any] = {
        "bootstrap.servers": servers,
        "group.id": f"evtool-audit-{uuid.uuid4().hex[:12]}",  # assign() only: never joined, never committed
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",  # a start below the log start (deleted records) begins at the start
        "socket.connection.setup.timeout.ms": int(METADATA_TIMEOUT_S * 1000),
        "fetch.max.bytes": 64 << 20,
        "max.partition.fetch.bytes": 16 << 20,  # a few large fetches: reading is bound by round trips
        "queued.max.messages.kbytes": 256 << 10,
    }
    config.update(properties or {})
    try:
        consumer = Consumer(config)
    except KafkaException as exc:
        raise TargetError(f"Kafka {servers}: cannot make a consumer ({exc.args[0]})",
                          hint="check -X connection properties") from None
    key_codes: dict[bytes, int] = {}
    keys = bytearray()
    partitions: list[int] = []
    offsets: list[int] = []
    codes: list[int] = []
    sequences: list[int] = []
    ids: list[bytes] = []
    ranges: list[PartitionRange] = []
    problems: list[str] = []
    complete = True
    started = time.perf_counter()
    try:
        assignment = []
        ends: dict[int, int] = {}
        by_partition: dict[int, PartitionRange] = {}
        for partition, (first, last) in sorted(bounds.items()):
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                           timeout=METADATA_TIMEOUT_S)
            except KafkaException as exc:
                raise TargetError(f"Kafka {servers}: cannot read the offsets of {topic} [{partition}] "
                                  f"({exc.args[0]})",
                                  hint="is the broker up, and does the topic exist?") from None
            start = max(first, low)
            end = high
            found = PartitionRange(partition, first, last, low, high, end)
            ranges.append(found)
            by_partition[partition] = found
            if start < end:
                assignment.append(TopicPartition(topic, partition, start))
                ends[partition] = end
        if assignment:
            consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        zero = bytes(16)
        others_in_a_row = dict.fromkeys(ends, 0)
        while ends:
            if time.monotonic() > deadline:
                complete = False
                problems.append(f"stopped reading after {timeout_s:g} s with partitions "
                                f"{sorted(ends)} not read to their end")
                break
            for message in consumer.consume(BATCH, POLL_S):
                partition = int(message.partition() or 0)
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:  # nothing more below the high watermark
                        if partition in ends:
                            by_partition[partition].end = int(message.offset() or ends[partition])
                            del ends[partition]
                            consumer.pause([TopicPartition(topic, partition, OFFSET_END)])
                        continue
                    if error.fatal() or not error.retriable():
                        raise TargetError(f"Kafka {servers}: reading {topic} failed ({error.str()})")
                    continue
                stop = ends.get(partition)
                offset = message.offset() or 0
                if stop is None or offset >= stop:
                    if stop is not None:
                        del ends[partition]
                        consumer.pause([TopicPartition(topic, partition, offset)])
                    continue
                place = by_partition[partition]
                place.read += 1
                # the hot path (binary mode): three ce_ headers, as bytes, in one pass over the list
                raw_id: bytes | None = None
                raw_key: bytes | None = None
                raw_sequence: bytes | None = None
                structured = False
                headers: Any = message.headers() or ()
                for name, value in headers:
                    if name == "ce_id":
                        raw_id = value
                    elif name == "ce_sequence":
                        raw_sequence = value
                    elif name == "ce_partitionkey":
                        raw_key = value
                    elif name == "content-type" and value is not None and value.startswith(_STRUCTURED):
                        structured = True
                event = None
                if structured or needs_event:
                    raw_id, raw_key, raw_sequence, event = _decoded(message, structured, needs_event)
                if not raw_id:
                    key = zero
                elif key_of is None or event is None:
                    key = _id_key(raw_id)
                else:
                    key = key_of(raw_id.decode("utf-8", "replace"), event)
                sequence: int | None = None
                if raw_sequence is not None:
                    try:
                        sequence = int(raw_sequence)
                    except ValueError:
                        sequence = None
                if offset > place.last:  # the tail: stop after `tail` records of other producers in a row
                    ours = bool(raw_id) and is_ours(key)
                    others_in_a_row[partition] = 0 if ours else others_in_a_row[partition] + 1
                    if others_in_a_row[partition] >= tail:
                        place.end = offset + 1
                        del ends[partition]
                        consumer.pause([TopicPartition(topic, partition, offset + 1)])
                keys += key
                partitions.append(partition)
                offsets.append(offset)
                if not raw_key:
                    codes.append(-1)
                else:
                    code = key_codes.get(raw_key)
                    if code is None:
                        code = key_codes[raw_key] = len(key_codes)
                    codes.append(code)
                sequences.append(NO_SEQUENCE if sequence is None or sequence < 0 else sequence)
                ids.append(raw_id or b"")
                if partition in ends and offset + 1 >= stop:
                    del ends[partition]
                    consumer.pause([TopicPartition(topic, partition, offset + 1)])
    finally:
        consumer.close()
    return TopicRecords(
        keys=np.frombuffer(bytes(keys), dtype="V16").copy(),
        partitions=np.asarray(partitions, dtype=np.int32),
        offsets=np.asarray(offsets, dtype=np.int64),
        key_codes=np.asarray(codes, dtype=np.int64),
        sequences=np.asarray(sequences, dtype=np.int64),
        ids=ids,
        ranges=ranges,
        read_s=time.perf_counter() - started,
        complete=complete,
        problems=problems,
    )


_STRUCTURED = b"application/cloudevents+json"


def _id_key(raw_id: bytes) -> bytes:
    """`correlation_key` of an id given as bytes; a canonical UUID without the round trip through `uuid`."""
    if len(raw_id) == 36 and raw_id[8] == raw_id[13] == raw_id[18] == raw_id[23] == 45:  # "-"
        try:
            return binascii.unhexlify(raw_id.replace(b"-", b""))
        except binascii.Error:
            pass
    return correlation_key(raw_id.decode("utf-8", "replace"))


def _decoded(message: Any, structured: bool,
             needs_event: bool) -> tuple[bytes | None, bytes | None, bytes | None, CloudEvent | None]:
    """(id, partitionkey, sequence, the event when needed) of a structured-mode message, or of a
    binary one whose whole event is wanted: the slow path (a JSON parse)."""
    if structured:
        try:
            doc = orjson.loads(message.value() or b"")
        except orjson.JSONDecodeError:
            return None, None, None, None
        if not isinstance(doc, dict):
            return None, None, None, None
        found, key, sequence = doc.get("id"), doc.get(PARTITIONKEY), doc.get(SEQUENCE)
        number = parse_sequence(sequence)
        out = (found.encode() if isinstance(found, str) else None,
               key.encode() if isinstance(key, str) else None,
               None if number is None else str(number).encode())
        event = None
        if needs_event and out[0]:
            with contextlib.suppress(Exception):  # not a whole event: correlated by its id
                event = CloudEvent.from_dict(doc)
        return (*out, event)
    headers = message.headers() or []
    found_headers = dict(headers)
    event = None
    with contextlib.suppress(Exception):
        text = {name.replace("ce_", "ce-", 1): (value or b"").decode("utf-8", "replace")
                for name, value in headers}
        event = CloudEvent.from_binary(text, message.value() or b"")
    return (found_headers.get("ce_id"), found_headers.get("ce_partitionkey"),
            found_headers.get("ce_sequence"), event)
