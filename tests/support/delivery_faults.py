"""Delivery faults on a real Kafka topic, for the audit's tests: what a pipeline gets wrong, made on purpose.

- `delete_before`: records removed from the start of a partition (`AdminClient.delete_records`,
  what `kafka-delete-records.sh` does), as retention would: acknowledged, then gone;
- `copy_records`: records written again by a second producer (same value, key, headers), what a
  producer retrying without idempotence leaves behind;
- `drop_acks`: acknowledgements removed from a run's offsets files (the event is on the topic
  but the run never learned it was written: an unknown outcome);
- `FaultyDecider`: a consumer that writes one decision per event to a results topic, except that
  it skips some events and answers some twice (duplicate processing).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tests.support.kafka_results import binary_result

from evtool.results.runlog import OFFSET_DTYPE


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def event_id(self) -> str:
        return dict(self.headers)["ce_id"].decode()


def read_all(bootstrap: str, topic: str, partitions: int, timeout_s: float = 30.0) -> list[Message]:
    """Every record of `topic` now, by partition and offset (the test's own reader, not the audit's)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest"})
    ends = {}
    for p in range(partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > low:
            ends[p] = high
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    out: list[Message] = []
    import time

    deadline = time.monotonic() + timeout_s
    while ends and time.monotonic() < deadline:
        for m in consumer.consume(1000, 0.5):
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    ends.pop(m.partition(), None)
                continue
            out.append(Message(m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or [])))
            if m.offset() + 1 >= ends.get(m.partition(), 0):
                ends.pop(m.partition(), None)
    consumer.close()
    assert not ends, f"partitions {sorted(ends)} not read to their end"
    return sorted(out, key=lambda m: (m.partition, m.offset))


def delete_before(bootstrap: str, topic: str, partition: int, offset: int) -> None:
    """Delete the records of `partition` below `offset` (the log start moves up to it)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, partition, offset)], request_timeout=20)
    for future in futures.values():
        future.result(timeout=30)


def copy_records(bootstrap: str, topic: str, messages: Sequence[Message], *,
                 idempotent: bool = False) -> None:
    """Write `messages` again, to their own partitions, with a second producer."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": idempotent, "linger.ms": 5})
    failed: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(str(error))

    for m in messages:
        producer.produce(topic, m.value, m.key, partition=m.partition, headers=m.headers,
                         on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0, "copies not delivered"
    assert not failed, failed


def produce_to(bootstrap: str, topic: str, partition: int,
               records: Sequence[tuple[bytes | None, Any]]) -> None:
    """Write (value, headers) records to one partition and wait until the broker has them."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for value, headers in records:
        producer.produce(topic, value, partition=partition, headers=headers)
        producer.poll(0)
    assert producer.flush(30) == 0, "records not delivered"


Records = np.ndarray[Any, Any]


def drop_acks(run_dir: Path, keep: Callable[[Records], Records]) -> Records:
    """Rewrite the run's offsets files keeping the records `keep(records)` selects; the removed ones."""
    removed = []
    for path in sorted(run_dir.glob("kafka-offsets-*.bin")):
        records = np.frombuffer(path.read_bytes(), dtype=OFFSET_DTYPE)
        chosen = keep(records)
        removed.append(records[~chosen])
        path.write_bytes(records[chosen].tobytes())
    return np.concatenate(removed) if removed else np.zeros(0, dtype=OFFSET_DTYPE)


@dataclass
class FaultyDecider:
    """Reads the events topic and writes a decision per event to `decisions` (correlated by id);
    the events whose number (1-based, in the order read) is in `skip` get none, every
    `duplicate_every`-th gets two. Run it in a `with` block; `answered` counts decisions written."""

    bootstrap: str
    events: str
    decisions: str
    partitions: int
    skip: frozenset[int] = frozenset()
    duplicate_every: int = 0
    seen: int = 0
    answered: int = 0
    skipped: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> FaultyDecider:
        self._thread = threading.Thread(target=self._run, daemon=True, name="faulty-decider")
        self._thread.start()
        assert self._ready.wait(30), "the decider did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"d-{uuid.uuid4().hex}",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        consumer.assign([TopicPartition(self.events, p, 0) for p in range(self.partitions)])
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 1})
        self._ready.set()
        try:
            while not self._stop.is_set():
                for m in consumer.consume(500, 0.1):
                    if m.error() is not None:
                        continue
                    event_id = dict(m.headers() or [])["ce_id"].decode()
                    self.seen += 1
                    if self.seen in self.skip:
                        self.skipped.append(event_id)
                        continue
                    copies = 2 if self.duplicate_every and self.seen % self.duplicate_every == 0 else 1
                    if copies == 2:
                        self.doubled.append(event_id)
                    for _ in range(copies):
                        value, headers = binary_result(event_id)
                        producer.produce(self.decisions, value, headers=headers)
                        self.answered += 1
                producer.poll(0)
        finally:
            producer.flush(10)
            consumer.close()


def broker_pid(state_dir: Path) -> int:
    """The JVM of a broker started by scripts/kafka with EVTOOL_KAFKA_STATE=state_dir."""
    import json

    return int(json.loads((state_dir / "broker.json").read_text())["pid"])


def freeze(state_dir: Path, seconds: float) -> None:
    """Stop the broker's process group for `seconds` (SIGSTOP, then SIGCONT): a long GC pause or a
    stalled disk. Its clients' requests time out while the broker holds them unread; once it runs
    again it writes them, and a producer that retried meanwhile without idempotence is written twice."""
    import os
    import signal
    import time

    pid = broker_pid(state_dir)
    os.killpg(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.killpg(pid, signal.SIGCONT)
