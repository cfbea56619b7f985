"""The reference consumer on Kafka: read events from a topic, decide, write a decision per event.

`evtool consumer serve --source kafka://HOST:PORT/orders --sink kafka://HOST:PORT/decisions`.
It joins a consumer group (`--group`; partitions without a committed offset start at their end,
resolved to concrete offsets and committed before it says it is ready, so a restart resumes
there), hands each event to a pool of workers that take the service time each (capacity is
workers / service time, as for the HTTP service), and writes the decision in CloudEvents binary
mode with `ce_correlationid` (and `ce_causationid`) = the event's id, keyed like the event.

What a crash costs depends on `--semantics`, which is what a delivery audit then verifies:

- at-most-once: offsets auto-committed as records are read; a crash loses what was read, not decided.
- at-least-once: a partition's offset is committed only up to the last event whose decision the
  broker acked (every earlier one too); a crash repeats the decisions acked since the last commit.
- exactly-once: read-process-write in Kafka transactions. Decisions wait in memory until every
  earlier event of their partition is decided; then one transaction writes them and commits the
  consumer's offsets (`send_offsets_to_transaction` with the group metadata). A crash aborts the
  open transaction (the next instance with the same `transactional.id` fences it), so readers
  with `isolation.level=read_committed` see each decision once.

`crash_after` is the fault switch tests use: after that many decisions, produced (and flushed)
but not committed, the process ends at once with `os._exit`, as a kill would end it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from evtool.consumer.decisions import decide
from evtool.consumer.service import RESULT_SOURCE, ConsumerStats
from evtool.errors import EvtoolError, ExitCode, InputError, TargetError
from evtool.events.envelope import CloudEvent
from evtool.load.targets.kafka import OPEN_TIMEOUT_S, Headers, binary_message, parse_url
from evtool.load.topic_input import record_event as event_of

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

DEFAULT_GROUP = "evtool-reference-consumer"
CRASH_EXIT = ExitCode.INTERRUPTED  # what a `crash_after` exit returns (as a killed run would)
_BATCH = 1000
_WAIT_S = 0.05


class Semantics(StrEnum):
    AT_MOST_ONCE = "at-most-once"
    AT_LEAST_ONCE = "at-least-once"
    EXACTLY_ONCE = "exactly-once"


@dataclass(frozen=True, slots=True)
class KafkaConsumerSettings:
    source: str  # kafka://HOST:PORT/TOPIC of the events
    sink: str  # kafka://HOST:PORT/TOPIC of the decisions
    workers: int = 64
    service_time_s: float = 0.05
    service_jitter: float = 0.2
    group: str = DEFAULT_GROUP
    properties: tuple[tuple[str, str], ...] = ()  # librdkafka connection settings, resolved
    seed: int = 0
    semantics: Semantics = Semantics.AT_LEAST_ONCE
    commit_interval_s: float = 0.2  # offsets (or a transaction) at most this often
    instance: int = 0  # the member's static id and transactional.id suffix: a restart replaces it at once
    crash_after: int | None = None  # fault switch: os._exit after this many decisions, before committing

    @property
    def capacity_per_s(self) -> float:
        return self.workers / self.service_time_s if self.service_time_s > 0 else float("inf")

    @property
    def transactional_id(self) -> str:
        return f"{self.group}-{self.instance}"


@dataclass(slots=True)
class KafkaConsumerStats(ConsumerStats):
    results_pending: int = 0
    partitions: list[int] = field(default_factory=list)
    commits: int = 0  # offset commits (at-least-once) or committed transactions (exactly-once)
    aborted: int = 0  # transactions aborted (their decisions are written again in the next one)


class OffsetTracker:
    """Per partition, the offset up to which every event is done (the position to commit).

    Events of a partition arrive in offset order but their decisions finish in any order (N
    workers); the committable position is one past the longest done prefix. Thread-safe: the
    consumer thread reads it, the event loop marks events done.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, collections.deque[int]] = {}
        self._done: dict[int, set[int]] = {}
        self._position: dict[int, int] = {}
        self._committed: dict[int, int] = {}

    def received(self, partition: int, offset: int) -> None:
        with self._lock:
            self._open.setdefault(partition, collections.deque()).append(offset)

    def done(self, partition: int, offset: int) -> None:
        with self._lock:
            if partition in self._open:  # not a partition revoked meanwhile
                self._done.setdefault(partition, set()).add(offset)

    def tracks(self, partition: int) -> bool:
        with self._lock:
            return partition in self._open

    def forget(self, partitions: list[int]) -> None:
        """Revoked partitions: their events in service belong to the next owner now."""
        with self._lock:
            for p in partitions:
                for table in (self._open, self._done, self._position, self._committed):
                    table.pop(p, None)

    def advance(self) -> dict[int, int]:
        """Positions moved since the last `committed`: {partition: next offset}."""
        with self._lock:
            for p, pending in self._open.items():
                done = self._done.get(p, set())
                while pending and pending[0] in done:
                    offset = pending.popleft()
                    done.discard(offset)
                    self._position[p] = offset + 1
            return {p: o for p, o in self._position.items() if self._committed.get(p) != o}

    def committed(self, positions: dict[int, int]) -> None:
        with self._lock:
            for p, o in positions.items():
                if p in self._position:
                    self._committed[p] = o


@dataclass(slots=True)
class _Decision:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers


class KafkaReferenceConsumer:
    """`async with KafkaReferenceConsumer(settings) as c:` consumes until the block ends."""

    def __init__(self, settings: KafkaConsumerSettings) -> None:
        self.settings = settings
        self.stats = KafkaConsumerStats()
        self._source_servers, self._source_topic = parse_url(settings.source, option="--source")
        self._sink_servers, self._sink_topic = parse_url(settings.sink, option="--sink")
        self._rng = random.Random(settings.seed)
        self._queue: asyncio.Queue[tuple[int, int, bytes | None, CloudEvent]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._thread: threading.Thread | None = None
        self._poller: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._assigned = threading.Event()
        self._crashing = threading.Event()  # set just before a crash: nothing may commit any more
        self._problems: collections.Counter[str] = collections.Counter()
        self._tracker = OffsetTracker()
        self._held: dict[tuple[int, int], _Decision] = {}  # exactly-once: decided, not yet written
        self._held_lock = threading.Lock()
        self._transaction_lock = threading.Lock()  # one transaction at a time (the timer's, stop's)

    async def __aenter__(self) -> KafkaReferenceConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def semantics(self) -> Semantics:
        return self.settings.semantics

    def _configs(self, logger: logging.Logger) -> tuple[dict[str, Any], dict[str, Any]]:
        common = dict(self.settings.properties)
        settings = self.settings
        producer: dict[str, Any] = {**common, "bootstrap.servers": self._sink_servers, "linger.ms": 2,
                                    "client.id": "evtool-reference-consumer", "logger": logger}
        consumer: dict[str, Any] = {**common, "bootstrap.servers": self._source_servers,
                                    "group.id": settings.group, "client.id": "evtool-reference-consumer",
                                    "auto.offset.reset": "latest", "enable.partition.eof": False,
                                    "logger": logger, "fetch.wait.max.ms": 100,
                                    # a restarted instance takes its partitions back at once
                                    "group.instance.id": settings.transactional_id,
                                    "session.timeout.ms": 10_000}
        if self.semantics is Semantics.AT_MOST_ONCE:
            consumer["enable.auto.commit"] = True
        else:
            consumer["enable.auto.commit"] = False
            producer["enable.idempotence"] = True
        if self.semantics is Semantics.EXACTLY_ONCE:
            producer["transactional.id"] = settings.transactional_id
            producer["transaction.timeout.ms"] = 60_000
            consumer["isolation.level"] = "read_committed"
        return producer, consumer

    async def start(self) -> None:
        from confluent_kafka import Consumer, KafkaException, Producer

        logger = logging.Logger("evtool.consumer.kafka")  # librdkafka's lines: not printed
        producer_config, consumer_config = self._configs(logger)
        try:
            self._producer = Producer(producer_config)
            self._consumer = Consumer(consumer_config)
        except KafkaException as exc:
            raise InputError(f"Kafka configuration: {exc.args[0]}") from None
        for servers, topic, client in ((self._source_servers, self._source_topic, self._consumer),
                                       (self._sink_servers, self._sink_topic, self._producer)):
            try:
                metadata = await asyncio.to_thread(client.list_topics, topic, OPEN_TIMEOUT_S)
            except KafkaException as exc:
                await self.stop()
                raise TargetError(f"Kafka {servers}: cannot read metadata for topic {topic} ({exc.args[0]})",
                                  hint="is the broker up?") from None
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                await self.stop()
                raise TargetError(f"Kafka {servers}: topic {topic} is not usable",
                                  hint="create it first (kafka-topics.sh --create)")
        if self.semantics is Semantics.EXACTLY_ONCE:
            try:  # fences an earlier instance with this transactional.id and aborts its open transaction
                await asyncio.to_thread(self._producer.init_transactions, 30.0)
            except KafkaException as exc:
                await self.stop()
                raise TargetError(f"Kafka {self._sink_servers}: transactions unavailable ({exc.args[0]})",
                                  hint="the broker needs transaction.state.log.replication.factor "
                                  "<= its brokers") from None
        loop = asyncio.get_running_loop()
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]
        if self.semantics is not Semantics.EXACTLY_ONCE:
            self._poller = asyncio.create_task(self._poll_producer())
        self._consumer.subscribe([self._source_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._thread = threading.Thread(target=self._consume, args=(self._consumer, loop),
                                        name="evtool-reference-consumer", daemon=True)
        self._thread.start()
        ready = await asyncio.to_thread(self._assigned.wait, 30.0)
        if not ready:
            await self.stop()
            raise TargetError(f"Kafka {self._source_servers}: no partitions of {self._source_topic} were "
                              f"assigned to group {self.settings.group} within 30 s")

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Committed offsets where the group has them, else each partition's end, committed at once
        (so a crash before the first decision still resumes from here, not from a later end)."""
        try:
            committed = consumer.committed(partitions, timeout=OPEN_TIMEOUT_S)
        except Exception:
            committed = partitions
        fresh = []
        for tp in committed:
            for attempt in range(50):  # a new topic's leader may not be known yet
                if tp.offset >= 0:
                    break
                try:
                    _, tp.offset = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
                    fresh.append(tp)
                except Exception:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        if fresh and self.semantics is not Semantics.AT_MOST_ONCE:
            try:
                consumer.commit(offsets=fresh, asynchronous=False)
            except Exception as exc:
                self._problems[f"initial commit: {type(exc).__name__}"] += 1
        consumer.assign(committed)
        self.stats.partitions = sorted(tp.partition for tp in committed)
        self._assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Decided but uncommitted events of a revoked partition are its next owner's to decide."""
        revoked = {tp.partition for tp in partitions}
        self._tracker.forget(sorted(revoked))
        with self._held_lock:
            for where in [w for w in self._held if w[0] in revoked]:
                del self._held[where]

    def _consume(self, consumer: Consumer, loop: asyncio.AbstractEventLoop) -> None:
        last_commit = time.monotonic()
        while not self._stopping.is_set():
            try:
                first = consumer.poll(_WAIT_S)  # at once when there is a record; then the rest queued
                messages = [] if first is None else [first, *consumer.consume(_BATCH - 1, 0)]
            except Exception as exc:
                self._problems[f"consume: {type(exc).__name__}"] += 1
                return
            items: list[tuple[int, int, bytes | None, CloudEvent]] = []
            track = self.semantics is not Semantics.AT_MOST_ONCE
            for message in messages:
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                if track:
                    self._tracker.received(partition, offset)
                try:
                    items.append((partition, offset, message.key(), event_of(message)))
                except EvtoolError:
                    self._problems["invalid event"] += 1
                    if track:  # nothing to decide: its offset moves on with the rest
                        self._tracker.done(partition, offset)
            if items:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._enqueue, items)
            if (self.semantics is not Semantics.AT_MOST_ONCE
                    and time.monotonic() - last_commit >= self.settings.commit_interval_s):
                last_commit = time.monotonic()
                # here, in the thread that polls: the consumer's group metadata, asked for from another
                # thread while this one polls, waits until the poll loop stops
                if self.semantics is Semantics.EXACTLY_ONCE:
                    try:
                        self._transaction()
                    except Exception as exc:  # fatal (fenced by a newer instance): nothing more can commit
                        self._problems[f"transactions stopped: {exc}"] += 1
                        return
                else:
                    self._commit_done(consumer)
        if self.semantics is Semantics.AT_LEAST_ONCE:
            self._commit_done(consumer)

    def _commit_done(self, consumer: Consumer) -> None:
        from confluent_kafka import TopicPartition

        if self._crashing.is_set():
            return
        positions = self._tracker.advance()
        if not positions:
            return
        try:
            consumer.commit(offsets=[TopicPartition(self._source_topic, p, o) for p, o in positions.items()],
                            asynchronous=False)
        except Exception as exc:
            self._problems[f"commit: {type(exc).__name__}"] += 1
            return
        self._tracker.committed(positions)
        self.stats.commits += 1

    def _enqueue(self, items: list[tuple[int, int, bytes | None, CloudEvent]]) -> None:
        for item in items:
            self._queue.put_nowait(item)
        self.stats.received += len(items)
        self.stats.max_queue = max(self.stats.max_queue, self._queue.qsize())

    async def _work(self) -> None:
        settings = self.settings
        while True:
            partition, offset, key, event = await self._queue.get()
            jitter = 1.0 + self._rng.uniform(-settings.service_jitter, settings.service_jitter)
            await asyncio.sleep(max(0.0, settings.service_time_s * jitter))
            result_type, decision = decide(event.type, event.data)
            self.stats.decided += 1
            self.stats.decisions[result_type] = self.stats.decisions.get(result_type, 0) + 1
            value, headers = self._result(event, result_type, decision)
            if self.semantics is Semantics.EXACTLY_ONCE:
                if self._tracker.tracks(partition):  # else revoked: its next owner decides it again
                    with self._held_lock:
                        self._held[(partition, offset)] = _Decision(partition, offset, key, value, headers)
                    self._tracker.done(partition, offset)
                continue
            self._produce(partition, offset, key, value, headers)
            crash_after = settings.crash_after
            if crash_after is not None and self.stats.decided >= crash_after:
                self._crash()

    def _result(self, cause: CloudEvent, result_type: str,
                decision: dict[str, Any]) -> tuple[bytes, Headers]:
        result = CloudEvent(
            id=str(uuid.uuid4()),
            source=RESULT_SOURCE,
            type=result_type,
            time=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            data={"decision": decision, "cause_type": cause.type},
            extensions={"correlationid": cause.id, "causationid": cause.id},
        )
        return binary_message(result)

    def _produce(self, partition: int, offset: int, key: bytes | None, value: bytes, headers: Headers,
                 attempt: int = 0) -> None:
        producer = self._producer
        if producer is None:
            return

        def delivered(error: KafkaError | None, _message: Message) -> None:
            self.stats.results_pending -= 1
            if error is None:
                self.stats.results_posted += 1
                if self.semantics is Semantics.AT_LEAST_ONCE:
                    self._tracker.done(partition, offset)
            elif attempt < 3 and not self._stopping.is_set():  # its offset waits until it is written
                self._produce(partition, offset, key, value, headers, attempt + 1)
            else:
                self.stats.results_failed += 1
                self._problems[f"decision not written: {error.name()}"] += 1

        try:
            producer.produce(self._sink_topic, value, key, headers=headers, on_delivery=delivered)
            self.stats.results_pending += 1
        except Exception:  # BufferError (queue full), KafkaException: counted as failed
            self.stats.results_failed += 1

    def _crash(self) -> None:
        """The fault switch: what was produced reaches the broker, nothing more is committed."""
        self._crashing.set()
        if self._producer is not None:
            self._producer.flush(10.0)
        os._exit(int(CRASH_EXIT))

    def _transaction(self) -> None:
        """Exactly-once: one transaction of the decided prefix (the poll thread's, every commit interval)."""
        with self._transaction_lock:
            self._transaction_locked()

    def _transaction_locked(self) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        producer, consumer = self._producer, self._consumer
        if producer is None or consumer is None or self._crashing.is_set():
            return
        positions = self._tracker.advance()
        if not positions:
            return
        with self._held_lock:
            batch = [d for d in self._held.values() if d.offset < positions.get(d.partition, -1)]
        batch.sort(key=lambda d: (d.partition, d.offset))  # written in the events' order, not the workers'
        crash_after = self.settings.crash_after
        try:
            producer.begin_transaction()
            for d in batch:
                producer.produce(self._sink_topic, d.value, d.key, headers=d.headers)
            if crash_after is not None and self.stats.decided >= crash_after:
                self._crash()  # produced into the open transaction, never committed
            offsets = [TopicPartition(self._source_topic, p, o) for p, o in positions.items()]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30.0)
            producer.commit_transaction(30.0)
        except KafkaException as exc:
            error = exc.args[0]
            self._problems[f"transaction: {error.name()}"] += 1
            if error.txn_requires_abort():
                with contextlib.suppress(KafkaException):
                    producer.abort_transaction(30.0)
                self.stats.aborted += 1
                return  # the same decisions go into the next transaction
            raise
        with self._held_lock:
            for d in batch:
                self._held.pop((d.partition, d.offset), None)
        self._tracker.committed(positions)
        self.stats.commits += 1
        self.stats.results_posted += len(batch)

    async def _poll_producer(self) -> None:
        while True:
            if self._producer is not None:
                self._producer.poll(0)
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        """Stops reading, lets the events in service finish (up to a few service times), writes and
        commits what was decided."""
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        deadline = time.monotonic() + max(1.0, 4 * self.settings.service_time_s)
        while not self._queue.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(min(1.0, 2 * self.settings.service_time_s))  # those already taken
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._producer is not None:
            if self.semantics is Semantics.EXACTLY_ONCE and self._consumer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._transaction)
            await asyncio.to_thread(self._producer.flush, 5.0)
            if self.semantics is Semantics.AT_LEAST_ONCE and self._consumer is not None:
                while self._producer.poll(0):
                    pass
                await asyncio.to_thread(self._commit_done, self._consumer)
            self._producer = None
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await asyncio.to_thread(consumer.close)

    def problem_lines(self) -> list[str]:
        return [f"{kind}: {n} times" for kind, n in sorted(self._problems.items())]
