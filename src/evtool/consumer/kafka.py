"""The reference consumer on Kafka: read events from a topic, decide, write a decision per event.

`evtool consumer serve --source kafka://HOST:PORT/orders --sink kafka://HOST:PORT/decisions`.
It joins a consumer group (`--group`; partitions without a committed offset start at their end,
resolved to concrete offsets before it says it is ready), hands each event to a pool of
workers that take the service time each (so capacity is workers / service time, as for the
HTTP service), and writes the decision in CloudEvents binary mode with `ce_correlationid` (and
`ce_causationid`) = the event's id, keyed like the event, so a result source can match it.
Offsets are committed automatically (at most once on a crash: a reference, not a ledger).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from evtool.consumer.decisions import decide
from evtool.consumer.service import RESULT_SOURCE, ConsumerStats
from evtool.errors import EvtoolError, InputError, TargetError
from evtool.events.envelope import CloudEvent
from evtool.load.targets.kafka import OPEN_TIMEOUT_S, binary_message, parse_url

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

DEFAULT_GROUP = "evtool-reference-consumer"
_BATCH = 1000
_WAIT_S = 0.05


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

    @property
    def capacity_per_s(self) -> float:
        return self.workers / self.service_time_s if self.service_time_s > 0 else float("inf")


@dataclass(slots=True)
class KafkaConsumerStats(ConsumerStats):
    results_pending: int = 0
    partitions: list[int] = field(default_factory=list)


def event_of(message: Message) -> CloudEvent:
    """A Kafka record as a CloudEvent (binary mode: `ce_` headers; else a structured value)."""
    raw_headers: Any = message.headers() or []
    headers = {}
    for name, value in raw_headers:
        text = value.decode() if isinstance(value, bytes) else (value or "")
        if name.startswith("ce_"):
            headers["ce-" + name[3:]] = text
        elif name.lower() == "content-type":
            headers["content-type"] = text
    body = message.value() or b""
    if "ce-id" not in headers and "content-type" not in headers:
        headers["content-type"] = "application/cloudevents+json"
    where = f"partition {message.partition()} offset {message.offset()}"
    return CloudEvent.from_http(headers, body, where=where)[0]


class KafkaReferenceConsumer:
    """`async with KafkaReferenceConsumer(settings) as c:` consumes until the block ends."""

    def __init__(self, settings: KafkaConsumerSettings) -> None:
        self.settings = settings
        self.stats = KafkaConsumerStats()
        self._source_servers, self._source_topic = parse_url(settings.source, option="--source")
        self._sink_servers, self._sink_topic = parse_url(settings.sink, option="--sink")
        self._rng = random.Random(settings.seed)
        self._queue: asyncio.Queue[tuple[bytes | None, CloudEvent]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._thread: threading.Thread | None = None
        self._poller: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._assigned = threading.Event()
        self._problems: collections.Counter[str] = collections.Counter()

    async def __aenter__(self) -> KafkaReferenceConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from confluent_kafka import Consumer, KafkaException, Producer

        common = dict(self.settings.properties)
        logger = logging.Logger("evtool.consumer.kafka")  # librdkafka's lines: not printed
        try:
            self._producer = Producer({**common, "bootstrap.servers": self._sink_servers, "linger.ms": 2,
                                       "client.id": "evtool-reference-consumer", "logger": logger})
            self._consumer = Consumer({**common, "bootstrap.servers": self._source_servers,
                                       "group.id": self.settings.group,
                                       "client.id": "evtool-reference-consumer",
                                       "auto.offset.reset": "latest", "enable.partition.eof": False,
                                       "logger": logger, "fetch.wait.max.ms": 100})
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
        loop = asyncio.get_running_loop()
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]
        self._poller = asyncio.create_task(self._poll_producer())
        self._consumer.subscribe([self._source_topic], on_assign=self._on_assign)
        self._thread = threading.Thread(target=self._consume, args=(self._consumer, loop),
                                        name="evtool-reference-consumer", daemon=True)
        self._thread.start()
        ready = await asyncio.to_thread(self._assigned.wait, 30.0)
        if not ready:
            await self.stop()
            raise TargetError(f"Kafka {self._source_servers}: no partitions of {self._source_topic} were "
                              f"assigned to group {self.settings.group} within 30 s")

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Committed offsets where the group has them, else each partition's end (a concrete offset)."""
        try:
            committed = consumer.committed(partitions, timeout=OPEN_TIMEOUT_S)
        except Exception:
            committed = partitions
        for tp in committed:
            for attempt in range(50):  # a new topic's leader may not be known yet
                if tp.offset >= 0:
                    break
                try:
                    _, tp.offset = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
                except Exception:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        consumer.assign(committed)
        self.stats.partitions = sorted(tp.partition for tp in committed)
        self._assigned.set()

    def _consume(self, consumer: Consumer, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stopping.is_set():
            try:
                first = consumer.poll(_WAIT_S)  # at once when there is a record; then the rest queued
                messages = [] if first is None else [first, *consumer.consume(_BATCH - 1, 0)]
            except Exception as exc:
                self._problems[f"consume: {type(exc).__name__}"] += 1
                return
            items: list[tuple[bytes | None, CloudEvent]] = []
            for message in messages:
                if message.error() is not None:
                    continue
                try:
                    items.append((message.key(), event_of(message)))
                except EvtoolError:
                    self._problems["invalid event"] += 1
            if items:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._enqueue, items)

    def _enqueue(self, items: list[tuple[bytes | None, CloudEvent]]) -> None:
        for item in items:
            self._queue.put_nowait(item)
        self.stats.received += len(items)
        self.stats.max_queue = max(self.stats.max_queue, self._queue.qsize())

    async def _work(self) -> None:
        settings = self.settings
        while True:
            key, event = await self._queue.get()
            jitter = 1.0 + self._rng.uniform(-settings.service_jitter, settings.service_jitter)
            await asyncio.sleep(max(0.0, settings.service_time_s * jitter))
            result_type, decision = decide(event.type, event.data)
            self.stats.decided += 1
            self.stats.decisions[result_type] = self.stats.decisions.get(result_type, 0) + 1
            self._write(key, event, result_type, decision)

    def _write(self, key: bytes | None, cause: CloudEvent, result_type: str,
               decision: dict[str, Any]) -> None:
        result = CloudEvent(
            id=str(uuid.uuid4()),
            source=RESULT_SOURCE,
            type=result_type,
            time=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            data={"decision": decision, "cause_type": cause.type},
            extensions={"correlationid": cause.id, "causationid": cause.id},
        )
        value, headers = binary_message(result)
        producer = self._producer
        if producer is None:
            return

        def delivered(error: KafkaError | None, _message: Message) -> None:
            self.stats.results_pending -= 1
            if error is None:
                self.stats.results_posted += 1
            else:
                self.stats.results_failed += 1

        try:
            producer.produce(self._sink_topic, value, key, headers=headers, on_delivery=delivered)
            self.stats.results_pending += 1
        except Exception:  # BufferError (queue full), KafkaException: counted as failed
            self.stats.results_failed += 1

    async def _poll_producer(self) -> None:
        while True:
            if self._producer is not None:
                self._producer.poll(0)
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
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
            producer, self._producer = self._producer, None
            await asyncio.to_thread(producer.flush, 5.0)
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await asyncio.to_thread(consumer.close)

    def problem_lines(self) -> list[str]:
        return [f"{kind}: {n} times" for kind, n in sorted(self._problems.items())]
