"""Results from Kafka, `--collect kafka://HOST:PORT[,HOST:PORT]/TOPIC`, on confluent-kafka's `Consumer`.

Positioned before time zero, by assignment, not by group subscription: `__aenter__` reads the
topic's partitions, resolves each one's end (high watermark) to a concrete offset and assigns
the consumer there, so results already on the topic are never counted and none written after
that point can be missed (no `auto.offset.reset` race, no wait for a group join). The group id
is the run's own (`evtool-<run dir>-<random>`), commits are off, and because the partitions are
assigned rather than subscribed, no rebalance of that group (another consumer joining it) can
take a partition away mid-run.

A thread consumes in batches and decodes each record (the correlation value from the
`ce_correlationid` header in binary mode, or the structured value's `correlationid`, or a
`--correlate-by` path into the JSON value); the event loop appends each batch through the
`ResultLedger`, stamped on this host's run clock when the batch came out of the consumer, with
the record's broker timestamp kept beside it (`broker_ns`), so a report can split end-to-end
latency into intended → acked → result written → result seen. Records of other runs are the
ledger's "foreign"; records that are not JSON or not an event are counted unreadable. With a
Schema Registry given (`--registry`), values are in its wire format: the magic byte and schema id
are taken off, the id's writer schema is asked of the registry once (registry/values.py), and the
value read as JSON or decoded as Avro; a value without the frame, or one that does not decode, is
unreadable too, with its reason among the run's problems.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson

from evtool.config import Settings
from evtool.errors import TargetError, UsageError
from evtool.load.collector import CorrelateBy
from evtool.load.sources.base import CollectorSpec, ResultLedger, SourceCounts, WaitOutcome, check_run_dir
from evtool.load.targets.base import redact_url
from evtool.load.targets.kafka import OPEN_TIMEOUT_S, KafkaOptions, parse_url, resolve
from evtool.registry.client import RegistryClient, SchemaById, registry_disabled, registry_settings
from evtool.registry.values import UnreadableValue, WireValues
from evtool.results.clock import RunClock
from evtool.results.runlog import correlation_key

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

BATCH = 10_000  # records per consume() call at most
CONSUME_WAIT_S = 0.05  # the thread checks for a stop this often when the topic is quiet
# librdkafka properties of [kafka] / -X that are about reaching the brokers, not about producing:
# the result source takes these (producer settings like acks or linger.ms do not apply to it)
_CONNECTION = ("security.", "sasl.", "ssl.", "ssl_", "socket.", "broker.", "reconnect.", "client.",
               "connections.", "metadata.", "topic.metadata.", "api.version", "enable.ssl.",
               "enable.sasl.", "https.", "oauthbearer", "retry.backoff")
_TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}
_TRANSIENT = frozenset({"NOT_LEADER_OR_FOLLOWER", "NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE",
                        "UNKNOWN_TOPIC_OR_PART", "_TIMED_OUT", "_TRANSPORT"})


def wire_results(options: KafkaOptions, registry: str | None, settings: Settings) -> KafkaOptions:
    """The options of a results topic in the wire format when a registry is given (`--registry URL`
    or [registry] url, not `--registry off`): each result's writer schema is asked of that registry."""
    if registry_disabled(registry) or not (registry or settings.registry.url):
        return options
    access = registry_settings(registry, settings)
    return dataclasses.replace(options, registry=redact_url(access.url), registry_access=access)


def connection_properties(options: KafkaOptions) -> dict[str, str]:
    """The connection settings of the target's Kafka options ([kafka] then -X), `env:` unresolved."""
    return {name: value for name, value in options.properties if name.startswith(_CONNECTION)}


@dataclass(slots=True)
class _Batch:
    """One consume() call's records, decoded in the consumer thread."""

    received_ns: int
    keys: list[bytes] = field(default_factory=list)
    broker_ns: list[int] = field(default_factory=list)
    uncorrelated: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)
    timestamp_types: dict[str, int] = field(default_factory=dict)
    partitions: dict[int, int] = field(default_factory=dict)  # partition -> next offset to read
    schema_ids: dict[int, int] = field(default_factory=dict)  # wire format: schema id -> records


class _CountingLog(logging.Handler):
    """librdkafka's log lines are counted by kind (never printed over the live view)."""

    def __init__(self, problems: collections.Counter[str]) -> None:
        super().__init__(logging.WARNING)
        self._problems = problems

    def emit(self, record: logging.LogRecord) -> None:
        self._problems[f"kafka log: {record.getMessage()[:80]}"] += 1


class KafkaResultSource:
    """A `ResultSource`: `async with` returns once the consumer is assigned at the end of every partition."""

    def __init__(self, spec: CollectorSpec, run_dir: Path, clock: RunClock, *, shard: int = 0,
                 from_beginning: bool = False) -> None:
        options = spec.transport if isinstance(spec.transport, KafkaOptions) else KafkaOptions()
        self._servers, self.topic = parse_url(spec.address, options.bootstrap, option="--collect")
        self._properties = connection_properties(options)
        self._registry = options.registry  # the values are framed in the wire format
        self._registry_access = options.registry_access
        self._registry_client: RegistryClient | None = None  # made in the consumer thread, on first need
        self._wire = WireValues(self._writer_schema)
        self._schema_ids: dict[int, int] = {}
        self.correlate_by = CorrelateBy.parse(spec.correlate_by) if spec.correlate_by else CorrelateBy.parse()
        paths = self.correlate_by.sources
        self._names = tuple(p[0] for p in paths) if all(len(p) == 1 for p in paths) else None
        self.run_dir = Path(run_dir)
        self.clock = clock
        self.shard = shard
        self.group_id = f"evtool-{self.run_dir.name}-{secrets.token_hex(4)}"
        self._from_beginning = from_beginning  # benchmarks: drain what is on the topic
        self._counts = SourceCounts()
        self._ledger: ResultLedger | None = None
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._batches: collections.deque[_Batch] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._problems: collections.Counter[str] = collections.Counter()  # from librdkafka's threads
        self._write_error: str | None = None
        self.start_offsets: dict[int, int] = {}
        self.next_offsets: dict[int, int] = {}
        self._timestamp_types: dict[str, int] = {}
        self.records = 0  # records consumed (results + uncorrelated + unreadable)

    @property
    def counts(self) -> SourceCounts:
        return self._counts

    @property
    def description(self) -> str:
        return f"kafka://{self._servers}/{self.topic}"

    @property
    def write_error(self) -> str | None:
        return self._ledger.write_error if self._ledger is not None else self._write_error

    def settings(self) -> dict[str, Any]:
        """What the source read, for ``collector-<shard>.json`` (no secret: names and offsets only)."""
        return {"transport": "kafka", "bootstrap.servers": self._servers, "topic": self.topic,
                "group.id": self.group_id, "partitions": len(self.start_offsets),
                "start_offsets": {str(p): o for p, o in sorted(self.start_offsets.items())},
                "next_offsets": {str(p): o for p, o in sorted(self.next_offsets.items())},
                "records": self.records, "timestamp_types": dict(self._timestamp_types),
                "correlate_by": str(self.correlate_by),
                **({} if self._registry is None else {"registry": {
                    "url": self._registry,
                    "schema_ids": {str(k): n for k, n in sorted(self._schema_ids.items())}}})}

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self._servers,
            "group.id": self.group_id,
            "client.id": "evtool-collect",
            "enable.auto.commit": False,  # the run's position is its own; nothing to commit
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "allow.auto.create.topics": False,
            "socket.connection.setup.timeout.ms": int(OPEN_TIMEOUT_S * 1000),
            "fetch.wait.max.ms": 100,
        }
        config.update(resolve(self._properties))
        return config

    # -- start and stop ----------------------------------------------------------------------

    async def __aenter__(self) -> KafkaResultSource:
        check_run_dir(self.run_dir, "--run-dir")
        self._loop = asyncio.get_running_loop()
        consumer = await asyncio.to_thread(self._open)
        self._consumer = consumer
        self._ledger = ResultLedger(self.run_dir, self.shard, self._counts)
        self._flusher = asyncio.create_task(self._ledger.flush_periodically())
        self._thread = threading.Thread(target=self._consume, args=(consumer,), name="evtool-kafka-results",
                                        daemon=True)
        self._thread.start()
        return self

    def _open(self) -> Consumer:
        """Make the consumer, read the topic's partitions and assign it at their ends (in a thread)."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        final: list[str] = []

        def on_error(error: KafkaError) -> None:
            self._problems[f"kafka: {error.name()}"] += 1
            if error.fatal() or error.name() in ("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL"):
                final.append(f"{error.name()}: {error.str()}")

        config = self._config()
        config["error_cb"] = on_error
        logger = logging.Logger("evtool.kafka.results")  # not in logging's tree: nothing else prints it
        logger.addHandler(_CountingLog(self._problems))
        config["logger"] = logger
        try:
            consumer = Consumer(config)
        except KafkaException as exc:
            error = exc.args[0]
            raise UsageError(f"--collect {self.description}: Kafka configuration: "
                             f"{error.str() if hasattr(error, 'str') else error}",
                             hint="check -X and the [kafka] table of evtool.toml") from None
        try:
            metadata = None
            waited = 0.0
            while metadata is None:
                try:
                    metadata = consumer.list_topics(self.topic, timeout=1.0)
                except KafkaException as exc:
                    waited += 1.0
                    if final or waited >= OPEN_TIMEOUT_S:
                        why = final[0] if final else exc.args[0].str()
                        raise TargetError(f"--collect {self.description}: cannot read the topic's metadata "
                                          f"({why})", hint="is the broker up, and are security.protocol "
                                          "and sasl.* right?") from None
            topic = metadata.topics.get(self.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                why = topic.error.str() if topic is not None and topic.error is not None else "no such topic"
                raise TargetError(f"--collect {self.description}: results topic {self.topic} is not usable "
                                  f"({why})",
                                  hint="create it first (kafka-topics.sh --create), or check its ACLs")
            assignment = []
            deadline = time.monotonic() + OPEN_TIMEOUT_S
            for partition in sorted(topic.partitions):
                tp = TopicPartition(self.topic, partition)
                low, high = self._watermarks(consumer, tp, deadline, final)
                start = (low if low >= 0 else OFFSET_BEGINNING) if self._from_beginning else high
                self.start_offsets[partition] = start
                assignment.append(TopicPartition(self.topic, partition, start))
            consumer.assign(assignment)
        except BaseException:
            consumer.close()
            raise
        return consumer

    def _watermarks(self, consumer: Consumer, tp: TopicPartition, deadline: float,
                    final: list[str]) -> tuple[int, int]:
        """(low, high) of a partition; a new topic's leader may not be known yet: retried until `deadline`."""
        from confluent_kafka import KafkaException

        while True:
            try:
                low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
                return low, high
            except KafkaException as exc:
                error = exc.args[0]
                transient = error.retriable() or error.name() in _TRANSIENT
                if final or not transient or time.monotonic() >= deadline:
                    raise TargetError(f"--collect {self.description}: cannot read the end of partition "
                                      f"{tp.partition} ({error.str()})") from None
                time.sleep(0.1)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await asyncio.to_thread(consumer.close)
        if self._registry_client is not None:
            self._registry_client.close()
            self._registry_client = None
        self._drain()  # what the thread decoded last
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._ledger is not None:
            self._ledger.close()
            if self._ledger.write_error:
                self._counts.notes.append(self._ledger.write_error)
                self._write_error = self._ledger.write_error
            self._ledger = None
        for note in self._wire.notes:
            self._counts.problem(note)
        self._wire.notes.clear()
        for kind, count in sorted(self._problems.items()):
            self._counts.problem(kind, count)
        self._problems.clear()
        self._counts.settings = self.settings()
        self._counts.write(self.run_dir, self.shard)

    def problem_lines(self) -> list[str]:
        """One line per kind of problem, with its count (for the end of `evtool collect`)."""
        problems = collections.Counter(self._counts.problems)
        problems.update(self._problems)
        return [f"{kind}: {n} times" for kind, n in sorted(problems.items())]

    async def wait_failed(self) -> None:
        """Returns at the first write error of the results log (never, while writes succeed)."""
        if self._ledger is not None:
            await self._ledger.failed.wait()

    # -- the end-of-run wait -----------------------------------------------------------------

    async def expect(self, run_dir: Path) -> None:
        if self._ledger is None:
            raise RuntimeError("the Kafka result source is not running")
        self._drain()
        await self._ledger.expect(run_dir)

    async def wait_for_results(self, timeout_s: float, stop: asyncio.Event | None = None) -> WaitOutcome:
        if self._ledger is None:
            raise RuntimeError("the Kafka result source is not running")
        return await self._ledger.wait_for_results(timeout_s, stop)

    # -- consuming ---------------------------------------------------------------------------

    def _writer_schema(self, schema_id: int) -> SchemaById:
        """The registry's schema for an id met in a result (consumer thread; WireValues caches it)."""
        if self._registry_access is None:
            raise UsageError(f"schema id {schema_id}: no registry to ask for it")
        if self._registry_client is None:
            self._registry_client = RegistryClient(self._registry_access)
        return self._registry_client.schema_by_id(schema_id)

    def _consume(self, consumer: Consumer) -> None:
        """The consumer thread: consume, decode, hand each batch to the event loop."""
        loop = self._loop
        assert loop is not None
        while not self._stopping.is_set():
            try:
                # one record as soon as there is one, then what else is queued without waiting:
                # consume(n, timeout) alone waits out its timeout for a batch that never fills
                first = consumer.poll(CONSUME_WAIT_S)
                if first is None:
                    continue
                messages = [first, *consumer.consume(BATCH - 1, 0)]
            except Exception as exc:  # a closed consumer, a fatal error: counted, then stop
                self._problems[f"kafka consume: {type(exc).__name__}: {str(exc)[:60]}"] += 1
                return
            if not messages:
                continue
            batch = self._decode(messages, self.clock.now_ns())
            self._batches.append(batch)
            with contextlib.suppress(RuntimeError):  # the loop closed: __aexit__ drains
                loop.call_soon_threadsafe(self._drain)

    def _decode(self, messages: list[Message], received_ns: int) -> _Batch:
        batch = _Batch(received_ns)
        keys, broker_ns = batch.keys, batch.broker_ns
        names = self._names
        find = self.correlate_by.find
        types = batch.timestamp_types
        partitions = batch.partitions
        framed = self._registry is not None
        ids = batch.schema_ids
        for message in messages:
            error = message.error()
            if error is not None:
                batch.errors.append(f"kafka: {error.name()}")
                continue
            partitions[message.partition() or 0] = (message.offset() or 0) + 1
            ts_type, ts_ms = message.timestamp()
            if ts_type in _TIMESTAMP_TYPES and ts_ms > 0:
                stamp = ts_ms * 1_000_000
                name = _TIMESTAMP_TYPES[ts_type]
                types[name] = types.get(name, 0) + 1
            else:
                stamp = 0
            raw_value = message.value()
            schema_id = -1
            if framed:  # magic byte 0, a 4-byte schema id, then the payload (JSON or Avro)
                if raw_value is None or len(raw_value) < 5 or raw_value[0] != 0:
                    batch.unreadable += 1
                    continue
                schema_id = int.from_bytes(raw_value[1:5], "big")
                ids[schema_id] = ids.get(schema_id, 0) + 1
                raw_value = raw_value[5:]
            value: str | None = None
            try:
                headers: list[tuple[str, str | bytes | None]] | None = message.headers()  # type: ignore[assignment]
                attributes: dict[str, bytes] | None = None
                if headers:
                    for hname, raw in headers:
                        if hname[:3] == "ce_" and raw is not None:
                            if attributes is None:
                                attributes = {}
                            attributes[hname[3:]] = raw if isinstance(raw, bytes) else str(raw).encode()
                if attributes is not None and ("id" in attributes or "specversion" in attributes):
                    if names is not None:  # attributes only: the value need not be parsed
                        for name in names:
                            found = attributes.get(name)
                            if found:
                                value = found.decode()
                                break
                    else:
                        event: dict[str, Any] = {k: v.decode() for k, v in attributes.items()}
                        event["data"] = (None if not raw_value else orjson.loads(raw_value) if not framed
                                         else self._wire.decode(schema_id, raw_value))
                        value = find(event, plain=False)
                else:
                    parsed = (None if not raw_value else orjson.loads(raw_value) if not framed
                              else self._wire.decode(schema_id, raw_value))
                    if not isinstance(parsed, dict):
                        batch.unreadable += 1
                        continue
                    value = find(parsed, plain="specversion" not in parsed)
            except (orjson.JSONDecodeError, UnicodeDecodeError):
                batch.unreadable += 1
                continue
            except UnreadableValue as exc:
                batch.unreadable += 1
                batch.errors.append(f"unreadable result: {exc}")
                continue
            if value is None:
                batch.uncorrelated += 1
                continue
            keys.append(correlation_key(value))
            broker_ns.append(stamp)
        return batch

    def _drain(self) -> None:
        """On the event loop: append the decoded batches through the ledger."""
        ledger, counts = self._ledger, self._counts
        while self._batches:
            batch = self._batches.popleft()
            counts.uncorrelated += batch.uncorrelated
            counts.unreadable += batch.unreadable
            self.records += len(batch.keys) + batch.uncorrelated + batch.unreadable
            for error in batch.errors:
                counts.problem(error)
            for name, n in batch.timestamp_types.items():
                self._timestamp_types[name] = self._timestamp_types.get(name, 0) + n
            self.next_offsets.update(batch.partitions)
            for schema_id, n in batch.schema_ids.items():
                self._schema_ids[schema_id] = self._schema_ids.get(schema_id, 0) + n
            if ledger is None or not ledger.writable:
                if batch.keys:
                    counts.problem("results log not writable: results not recorded", len(batch.keys))
                continue
            received = batch.received_ns
            append = ledger.append
            for key, stamp in zip(batch.keys, batch.broker_ns, strict=True):
                append(key, received, stamp)


def open_source(spec: CollectorSpec, run_dir: Path, clock: RunClock) -> KafkaResultSource:
    """The `ResultSource` for `--collect kafka://...` (the source registry calls this)."""
    return KafkaResultSource(spec, run_dir, clock)
