"""Kafka target, `kafka://HOST:PORT[,HOST:PORT]/TOPIC`, on confluent-kafka's `Producer` (librdkafka).

Open model on Kafka: `produce()` is called at each event's intended time and only queues the
message (librdkafka batches and sends from its own threads), so a slow broker never holds the
schedule back. A short task on the event loop calls `poll(0)` while messages are in flight,
which runs the delivery reports here: each resolves its event's send with the outcome (ok, or
failed with the Kafka error's name and text) and writes an acked event's partition and offset to
`kafka-offsets-<shard>.bin`, so a later audit can find exactly what the broker acknowledged.
A full local queue (`BufferError`) drops the event with reason QUEUE_FULL at once, never
delays it; a message that is not acknowledged within `--timeout` (librdkafka's
`message.timeout.ms`) fails with TIMEOUT. Not `AIOProducer`: it holds messages back behind
an inactivity timeout and takes no headers.

Messages follow the CloudEvents Kafka protocol binding: binary mode (attributes as `ce_`
headers, `content-type`, the data as the value) or structured mode (the whole event as an
`application/cloudevents+json` value). The binding has no batched mode. The message key is
the event's entity (order id, SKU, customer), so one entity's events stay in order on one
partition; `--key FIELD_PATH` chooses another. With `--encoding avro` (binary mode) the value is
the data as Avro binary under the schema version its `dataschema` names (no registry framing),
with `content-type: application/avro`. With a Schema Registry (`--registry`) each value is framed
in its wire format: magic byte 0 and the version's registered schema id before the Avro or JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import orjson

from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat
from evtool.errors import EvtoolError, TargetError, UsageError
from evtool.events.envelope import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_STRUCTURED,
    ENTITY_FIELDS,
    PARTITIONKEY,
    CloudEvent,
    dataschema_uri,
)
from evtool.load.plan import EventBlock
from evtool.load.targets.base import (
    REDACTED,
    Delivered,
    OnDone,
    OutEvent,
    RawBatch,
    SendResult,
    Target,
    TargetOptions,
    structured_body,
)
from evtool.load.targets.registry import AsyncTarget, TransportSpec, register
from evtool.registry.client import RegistrySettings
from evtool.results.runlog import OFFSET_DTYPE, Reason, Status

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

# Stated defaults (shown in the run's meta; -X or [kafka] override any of them):
DEFAULTS: dict[str, str] = {
    "acks": "all",  # acknowledged = written to every in-sync replica
    "enable.idempotence": "true",  # retries inside librdkafka neither duplicate nor reorder
    "linger.ms": "5",  # a few ms of batching: high throughput at a small, bounded latency cost
    "compression.type": "lz4",  # cheap on CPU, about halves JSON events on the wire
}
OPEN_TIMEOUT_S = 4.0  # metadata before time zero: an unusable broker is one line within 10 s
_FINAL_ERRORS = frozenset({"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL", "_INVALID_ARG",
                           "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED"})
POLL_INTERVAL_S = 0.001  # delivery reports are seen within about 1 ms while messages are in flight
IDLE_POLL_S = 0.1  # with nothing in flight: error callbacks (broker down) still arrive
CLOSE_FLUSH_S = 5.0
# librdkafka properties that hold secrets: never written anywhere (also anything matching _SECRET)
_SECRET = re.compile(r"password|secret|sasl\.jaas|token|key\.pem|certificate\.pem|oauthbearer\.config",
                     re.IGNORECASE)
_ASSIGNED = re.compile(r'"idemp_state":\s*"Assigned"')
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# the default message key: each event type's entity, the field path of its `partitionkey`
ENTITY_KEYS: dict[str, tuple[str, ...]] = {kind: ("data", *path) for kind, path in ENTITY_FIELDS.items()}
OFFSETS_FILE = "kafka-offsets-{shard}.bin"
Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """The Kafka transport's own options (`TargetOptions.transport`); picklable, no resolved secret.

    `properties` are librdkafka's, from the `[kafka]` table then `-X` (later wins); a value
    `env:VAR` is read from the environment only when the producer is made.
    """

    properties: tuple[tuple[str, str], ...] = ()
    key: str | None = None  # FIELD_PATH of the message key; None: the event's entity
    bootstrap: str | None = None  # [kafka] bootstrap.servers, for a target without hosts: kafka:///orders
    encoding: str = "json"  # the value in binary mode: "json", or "avro" (the data as Avro binary)
    avro_schemas: tuple[tuple[str, str], ...] = ()  # dataschema URI -> Avro schema (JSON text)
    # --registry: the values in the Schema Registry wire format; the URL as shown (no credentials)
    # and each dataschema URI's registered schema id, looked up before time zero
    registry: str | None = None
    schema_ids: tuple[tuple[str, int], ...] = ()
    # a kafka:// --collect in the wire format: how to ask the registry for a result's writer schema
    # (auth as env:VAR references, resolved in the source's own thread)
    registry_access: RegistrySettings | None = None
    proto_schemas: tuple[tuple[str, SchemaFile], ...] = ()  # --encoding protobuf: dataschema URI -> .proto

    @classmethod
    def of(cls, config: dict[str, str], x_options: Sequence[str], key: str | None, *,
           encoding: str = "json", avro_schemas: tuple[tuple[str, str], ...] = ()) -> KafkaOptions:
        """From the [kafka] table of evtool.toml, then `-X key=value` (which wins)."""
        table = dict(config)
        bootstrap = table.pop("bootstrap.servers", None)
        given = [parse_property(text) for text in x_options]
        return cls(properties=(*table.items(), *given), key=key, bootstrap=bootstrap, encoding=encoding,
                   avro_schemas=avro_schemas)

    def merged(self) -> dict[str, str]:
        """Defaults, then the user's properties; `env:` references unresolved."""
        out = dict(DEFAULTS)
        out.update(self.properties)
        return out

    def redacted(self) -> dict[str, str]:
        """The settings as the run's meta shows them: secrets replaced, `env:VAR` kept (not secret)."""
        return {k: (v if v.startswith("env:") or not _SECRET.search(k) else REDACTED)
                for k, v in self.merged().items()}


def parse_property(text: str, *, where: str = "-X") -> tuple[str, str]:
    """`-X key=value` (as kcat and librdkafka tools take it)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name or not re.fullmatch(r"[a-z0-9._]+", name):
        raise UsageError(f"{where} {text.partition('=')[0]!r}...: expected key=value, a librdkafka property "
                         "such as -X linger.ms=20")
    if name == "bootstrap.servers":
        raise UsageError(f"{where} bootstrap.servers: the brokers come from --target kafka://HOST:PORT/TOPIC")
    return name, value


def parse_url(target: str, default_servers: str | None = None, *,
              option: str = "--target") -> tuple[str, str]:
    """(bootstrap servers, topic) of `kafka://HOST:PORT[,HOST:PORT]/TOPIC`; `kafka:///TOPIC` takes
    `default_servers` ([kafka] bootstrap.servers). `option` names the option in errors (--collect)."""
    rest = target.split("://", 1)[1] if "://" in target else ""
    servers, _, topic = rest.partition("/")
    if not servers and default_servers:
        servers = default_servers
    hosts = [h.strip() for h in servers.split(",") if h.strip()]
    if not hosts or not all(re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", h) for h in hosts):
        raise UsageError(f"{option} {target!r}: expected kafka://HOST:PORT[,HOST:PORT]/TOPIC",
                         hint="e.g. kafka://127.0.0.1:9092/orders")
    if not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise UsageError(f"{option} {target!r}: {topic!r} is not a Kafka topic name",
                         hint="up to 249 of A-Z a-z 0-9 . _ -, e.g. kafka://127.0.0.1:9092/orders")
    return ",".join(hosts), topic


def resolve(properties: dict[str, str]) -> dict[str, str]:
    """`env:VAR` values read from the environment (UsageError naming the property when unset)."""
    out = {}
    for name, given in properties.items():
        value = given
        if given.startswith("env:"):
            var = given[4:]
            found = os.environ.get(var)
            if found is None:
                raise UsageError(f"Kafka property {name}: environment variable {var} is not set",
                                 hint=f"export {var}=... before the run")
            value = found
        out[name] = value
    return out


def key_getter(path: str | None) -> Callable[[CloudEvent], bytes | None]:
    """The message key of an event: a field path (`data.order_id`, `subject`, `id`), or the entity.

    The entity is the event's `partitionkey` extension when it has one (the binding maps that
    extension to the key; generated events carry their entity there from birth), else found in
    its data by type (`ENTITY_KEYS`), else its `subject`.
    """
    if path is None:
        def entity(event: CloudEvent) -> bytes | None:
            given = event.extensions.get(PARTITIONKEY)
            if given:
                return given.encode() if given.__class__ is str else _key_bytes(given)
            fields = ENTITY_KEYS.get(event.type)
            if fields is not None:
                found = _walk(event, fields)
                if found is not None:
                    return found
            return event.subject.encode() if event.subject else None

        return entity
    parts = tuple(path.split("."))
    if not path or any(not p for p in parts):
        raise UsageError(f"--key {path!r}: expected a field path such as data.order_id, subject or id")
    return lambda event: _walk(event, parts)


def doc_key_getter(path: str | None) -> Callable[[dict[str, Any]], bytes | None]:
    """`key_getter` for a structured event's JSON object (a replayed line), without a CloudEvent."""
    if path is None:
        def entity(doc: dict[str, Any]) -> bytes | None:
            given = doc.get(PARTITIONKEY)
            if given:
                return _key_bytes(given)
            fields = ENTITY_KEYS.get(doc.get("type", ""))
            if fields is not None:
                found = _walk_doc(doc, fields)
                if found is not None:
                    return found
            subject = doc.get("subject")
            return subject.encode() if isinstance(subject, str) and subject else None

        return entity
    parts = tuple(path.split("."))
    return lambda doc: _walk_doc(doc, parts)


def _walk_doc(doc: dict[str, Any], parts: tuple[str, ...]) -> bytes | None:
    value: Any = doc
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return _key_bytes(value)


def _key_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, bytes) else str(value).encode()


def _walk(event: CloudEvent, parts: tuple[str, ...]) -> bytes | None:
    head = parts[0]
    if head == "data":
        value: Any = event.data
    elif head in ("id", "source", "type", "subject", "time", "dataschema"):
        value = getattr(event, head)
    else:
        value = event.extensions.get(head)
    for part in parts[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, bytes) else str(value).encode()


def binary_message(event: CloudEvent) -> tuple[bytes, Headers]:
    """CloudEvents Kafka binding, binary mode: (value, headers)."""
    headers: Headers = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
    ]
    if event.time is not None:
        headers.append(("ce_time", event.time.encode()))
    if event.dataschema is not None:
        headers.append(("ce_dataschema", event.dataschema.encode()))
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    for name, value in event.extensions.items():
        headers.append((f"ce_{name}", (value if isinstance(value, str) else str(value)).encode()))
    headers.append(("content-type", (event.datacontenttype or CONTENT_TYPE_JSON).encode()))
    data = event.data
    if data is None:
        return b"", headers
    return (data if isinstance(data, bytes) else orjson.dumps(data)), headers


ENCODINGS = ("json", "avro", "protobuf")
CONTENT_TYPE_AVRO = "application/avro"
CONTENT_TYPE_PROTOBUF = "application/protobuf"


def protobuf_schemas(schemas: Iterable[SchemaFile]) -> tuple[tuple[str, SchemaFile], ...]:
    """`--encoding protobuf`: the .proto of each subject version a run will send, by dataschema URI;
    UsageError (one line) for the first that has none."""
    out: dict[str, SchemaFile] = {}
    for schema in schemas:
        if schema.format is not SchemaFormat.PROTOBUF:
            raise UsageError(
                f"--encoding protobuf: subject {schema.subject} (version {schema.version}) has no .proto "
                f"({schema.path} is {schema.format.value})",
                hint="send Protobuf subjects only (e.g. --mix payments.refund.issued=1), or --encoding json")
        out[dataschema_uri(schema.subject, schema.version)] = schema
    return tuple(out.items())


def avro_schemas(schemas: Iterable[SchemaFile]) -> tuple[tuple[str, str], ...]:
    """`--encoding avro`: the Avro schema of each subject version a run will send, by dataschema URI;
    UsageError (one line) for the first that has none."""
    out: dict[str, str] = {}
    for schema in schemas:
        if schema.format is not SchemaFormat.AVRO:
            raise UsageError(
                f"--encoding avro: subject {schema.subject} (version {schema.version}) has no Avro schema "
                f"({schema.path} is {schema.format.value})",
                hint="send Avro subjects only (e.g. --mix commerce.order.placed=1), or --encoding json")
        out[dataschema_uri(schema.subject, schema.version)] = orjson.dumps(schema.document).decode()
    return tuple(out.items())


def avro_schemas_of_log(path: Path, schemas_dir: Path | None = None) -> tuple[tuple[str, str], ...]:
    """`--encoding avro` for a replay: the Avro schema of every subject version the log's events name
    (read through once, before time zero); UsageError for an event without one."""
    return avro_schemas(schemas_of_log(path, schemas_dir, why="--encoding avro")[1])


def schemas_of_log(path: Path, schemas_dir: Path | None = None, *,
                   why: str) -> tuple[Catalog, list[SchemaFile]]:
    """The catalogue and every subject version the log's events name; UsageError (naming `why`, the
    option that needs them) for an event whose dataschema names none."""
    from evtool.catalog.bundled import resolve_catalogue
    from evtool.catalog.loader import load_catalog
    from evtool.config import load_settings
    from evtool.events.envelope import parse_dataschema
    from evtool.load.plan import read_log

    catalog = load_catalog(resolve_catalogue(schemas_dir, load_settings(None))[0])
    named: dict[str | None, tuple[str, int] | None] = {}
    for event, _ in read_log(path):
        if event.dataschema not in named:
            named[event.dataschema] = parse_dataschema(event.dataschema)
    found = []
    for uri, ref in named.items():
        if ref is None or ref[0] not in catalog.subjects:
            raise UsageError(f"{why}: events of {path} with dataschema {uri!r} name no subject "
                             "of the catalogue, so no schema", hint="replay them with --encoding json")
        try:
            found.append(catalog.subject(ref[0]).version(ref[1]))
        except EvtoolError:
            raise UsageError(f"{why}: {uri} names a version the catalogue does not have",
                             hint="replay with --encoding json, or add the version") from None
    return catalog, found


class AvroValues:
    """Binary-mode messages whose value is the data as Avro binary (fastavro's schemaless writer)."""

    def __init__(self, schemas: tuple[tuple[str, str], ...]) -> None:
        import fastavro

        self._write = fastavro.schemaless_writer
        self._schemas = {uri: fastavro.parse_schema(orjson.loads(text)) for uri, text in schemas}

    def __call__(self, event: CloudEvent) -> tuple[bytes, Headers]:
        """(value, headers); ValueError naming what is wrong when the data cannot be written."""
        schema = self._schemas.get(event.dataschema or "")
        if schema is None:
            raise ValueError(f"no Avro schema for dataschema {event.dataschema!r}")
        _, headers = binary_message(replace(event, data=None))
        headers[-1] = ("content-type", CONTENT_TYPE_AVRO.encode())
        buffer = io.BytesIO()
        try:
            self._write(buffer, schema, event.data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"data does not fit {event.dataschema}: {exc}") from None
        return buffer.getvalue(), headers


class ProtobufValues:
    """Binary-mode messages whose value is the data as the subject's Protobuf message (its format's
    encoder: the .proto's first top-level message, parsed from the JSON data)."""

    def __init__(self, schemas: tuple[tuple[str, SchemaFile], ...]) -> None:
        self._schemas = dict(schemas)
        self._encoders: dict[str, Callable[[Any], bytes]] = {}  # made on first use, in the sender

    def __call__(self, event: CloudEvent) -> tuple[bytes, Headers]:
        """(value, headers); ValueError naming what is wrong when the data cannot be written."""
        uri = event.dataschema or ""
        encode = self._encoders.get(uri)
        if encode is None:
            schema = self._schemas.get(uri)
            made = schema.handler.encoder(schema) if schema is not None else None
            if made is None:
                raise ValueError(f"no Protobuf schema for dataschema {event.dataschema!r}")
            encode = self._encoders[uri] = made
        _, headers = binary_message(replace(event, data=None))
        headers[-1] = ("content-type", CONTENT_TYPE_PROTOBUF.encode())
        try:
            return encode(event.data), headers
        except Exception as exc:  # json_format.ParseError and the like: this event only
            raise ValueError(f"data does not fit {event.dataschema}: {str(exc)[:120]}") from None


class RegistryFramed:
    """Binary-mode messages whose value (Avro or JSON) is framed in the Schema Registry wire format
    with the registered id of the version its `dataschema` names."""

    def __init__(self, inner: Callable[[CloudEvent], tuple[bytes, Headers]],
                 schema_ids: tuple[tuple[str, int], ...], *, protobuf: bool = False) -> None:
        from evtool.registry.wire import frame

        self._inner = inner
        self._frame = frame
        self._ids = dict(schema_ids)
        # the event's message is the .proto's first top-level one (ProtobufValues): index (0,)
        self._indexes = (0,) if protobuf else None

    def __call__(self, event: CloudEvent) -> tuple[bytes, Headers]:
        """(value, headers); ValueError for an event whose version has no registered id."""
        schema_id = self._ids.get(event.dataschema or "")
        if schema_id is None:
            raise ValueError(f"no registered schema id for dataschema {event.dataschema!r}")
        value, headers = self._inner(event)
        return self._frame(schema_id, value, message_indexes=self._indexes), headers


STRUCTURED_HEADERS: Headers = [("content-type", f"{CONTENT_TYPE_STRUCTURED}; charset=UTF-8".encode())]


def _kafka_reason(error: KafkaError) -> Reason:
    name = error.name()
    if name in ("_MSG_TIMED_OUT", "_TIMED_OUT", "REQUEST_TIMED_OUT", "_TIMED_OUT_QUEUE"):
        return Reason.TIMEOUT
    if name in ("_PURGE_QUEUE", "_PURGE_INFLIGHT"):
        return Reason.CANCELLED
    if name == "_SSL":
        return Reason.TLS
    return Reason.TRANSPORT


def _detail(error: KafkaError) -> str:
    return f"{error.name()}: {error.str()}"


class _OffsetLog:
    """`kafka-offsets-<shard>.bin`: one OFFSET_DTYPE record per acknowledged message, buffered.

    Each record is packed as it comes (about 0.3 µs), so a flush is one write: building 4,096
    records from tuples at once took 2-20 ms on the event loop, a send-lag burst every 410 ms
    at 10,000 events/s.
    """

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = path.open("ab", buffering=0)
        self._buffer = bytearray(_OFFSET_RECORD.size * OFFSET_BUFFER)
        self._used = 0
        self.written = 0

    def append(self, key: bytes, partition: int, offset: int, ts_type: int, ts_ms: int) -> None:
        _OFFSET_RECORD.pack_into(self._buffer, self._used, key, offset, ts_ms, partition, ts_type)
        self._used += _OFFSET_RECORD.size
        self.written += 1
        if self._used == len(self._buffer):
            self.flush()

    def flush(self) -> None:
        if self._used:
            self._file.write(memoryview(self._buffer)[: self._used])
            self._used = 0

    def close(self) -> None:
        self.flush()
        self._file.close()


OFFSET_BUFFER = 4096  # records per write
# OFFSET_DTYPE's layout: key, offset, timestamp_ms, partition, timestamp_type, 3 pad bytes
_OFFSET_RECORD = struct.Struct("<16sqqiB3x")
assert _OFFSET_RECORD.size == OFFSET_DTYPE.itemsize


def read_offsets(run_dir: Path) -> np.ndarray[Any, np.dtype[np.void]]:
    """Every shard's offset records of a run (whole records only; a torn tail is skipped)."""
    parts = []
    for path in sorted(Path(run_dir).glob("kafka-offsets-*.bin")):
        raw = path.read_bytes()
        whole = len(raw) // OFFSET_DTYPE.itemsize * OFFSET_DTYPE.itemsize
        parts.append(np.frombuffer(raw[:whole], dtype=OFFSET_DTYPE))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=OFFSET_DTYPE)


@dataclass
class _State:
    """What the delivery reports and the poller share (all on the event loop's thread)."""

    in_flight: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_error: str | None = None
    log: list[str] = field(default_factory=list)  # librdkafka's warnings, newest last (a few kept)
    producer_id: bool = False  # the idempotent producer has its id (stats said so)

    def on_stats(self, text: str) -> None:
        """librdkafka's statistics, read only until the producer id is assigned (a substring, no JSON)."""
        if not self.producer_id and _ASSIGNED.search(text) is not None:
            self.producer_id = True


class _KeepLog(logging.Handler):
    """librdkafka's log lines go here, not to stderr over the live view; errors quote the last."""

    def __init__(self, state: _State) -> None:
        super().__init__(logging.INFO)
        self._state = state

    def emit(self, record: logging.LogRecord) -> None:
        log = self._state.log
        log.append(record.getMessage())
        del log[:-5]


def _logger(state: _State) -> logging.Logger:
    logger = logging.Logger("evtool.kafka")  # not in logging's tree: nothing else prints it
    logger.addHandler(_KeepLog(state))
    return logger


class KafkaTarget(AsyncTarget):
    """One producer per sender process; `send` gets one event (Kafka messages are not batched here:
    librdkafka batches by partition itself, per `linger.ms` and `batch.size`)."""

    def __init__(self, options: TargetOptions) -> None:
        self._options = options
        self._kafka: KafkaOptions = options.transport if isinstance(options.transport, KafkaOptions) \
            else KafkaOptions()
        self._servers, self._topic = parse_url(options.target, self._kafka.bootstrap)
        self._key = key_getter(self._kafka.key)
        self._doc_key = doc_key_getter(self._kafka.key)
        self._structured = options.mode == "structured"
        self._binary: Callable[[CloudEvent], tuple[bytes, Headers]] = binary_message
        if self._kafka.encoding == "avro":
            self._binary = AvroValues(self._kafka.avro_schemas)
        elif self._kafka.encoding == "protobuf":
            self._binary = ProtobufValues(self._kafka.proto_schemas)
        if self._kafka.registry is not None:
            self._binary = RegistryFramed(self._binary, self._kafka.schema_ids,
                                          protobuf=self._kafka.encoding == "protobuf")
        self._producer: Producer | None = None
        self._poller: asyncio.Task[None] | None = None
        self._state: _State | None = None
        self._offsets: _OffsetLog | None = None
        self.partitions = 0

    @property
    def description(self) -> str:
        return self._options.target

    def settings(self) -> dict[str, Any]:
        """For the run's meta: transport, topic, partitions, the producer's properties (no secret)."""
        registry = {} if self._kafka.registry is None else {"registry": {
            "url": self._kafka.registry, "wire_format": f"{self._kafka.encoding}, framed",
            "schema_ids": dict(self._kafka.schema_ids)}}
        return {**registry, "transport": "kafka", "bootstrap.servers": self._servers, "topic": self._topic,
                "partitions": self.partitions, "content_mode": self._options.mode,
                "key": self._kafka.key or "entity (" + ", ".join(
                    f"{t}: {'.'.join(p)}" for t, p in ENTITY_KEYS.items()) + ")",
                "properties": {**self._kafka.redacted(), "message.timeout.ms": str(self._timeout_ms())}}

    def attach_run(self, run_dir: Path, shard: int) -> None:
        """Where acknowledged offsets go: `kafka-offsets-<shard>.bin` in the run directory."""
        self._offsets = _OffsetLog(run_dir / OFFSETS_FILE.format(shard=shard))

    def _timeout_ms(self) -> int:
        given = dict(self._kafka.properties)
        for name in ("message.timeout.ms", "delivery.timeout.ms"):
            if name in given:
                return int(given[name])
        return max(1, int(self._options.timeout_s * 1000))

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "bootstrap.servers": self._servers,
            "client.id": "evtool",
            "message.timeout.ms": self._timeout_ms(),
            "socket.connection.setup.timeout.ms": int(OPEN_TIMEOUT_S * 1000),
            "allow.auto.create.topics": "false",  # a missing topic is an error before time zero
        }
        config.update(resolve(self._kafka.merged()))
        config.pop("delivery.timeout.ms", None)  # an alias of message.timeout.ms, set above
        return config

    async def open(self) -> None:
        from confluent_kafka import KafkaException, Producer

        state = _State()
        self._state = state

        final: list[str] = []

        def on_error(error: KafkaError) -> None:
            state.last_error = _detail(error)
            if error.name() in _FINAL_ERRORS:
                final.append(state.last_error)

        config = self._config()
        config["error_cb"] = on_error
        config["logger"] = _logger(state)
        idempotent = str(config.get("enable.idempotence", "false")).lower() in ("true", "1")
        if idempotent and "statistics.interval.ms" not in config:
            # librdkafka asks for the producer id on a timer (about 0.5 s) after the first connection;
            # waiting for it here keeps that wait out of the first events' latency
            config["statistics.interval.ms"] = 50
            config["stats_cb"] = state.on_stats
        else:
            state.producer_id = True
        try:
            producer = Producer(config)
        except KafkaException as exc:
            error = exc.args[0]
            raise UsageError(f"Kafka configuration: {error.str() if hasattr(error, 'str') else error}",
                             hint="check -X and the [kafka] table of evtool.toml") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPEN_TIMEOUT_S
        while True:  # short tries, polling between them: error callbacks (auth failed) end it early
            try:
                wait = min(1.0, max(0.1, deadline - loop.time()))
                metadata = await loop.run_in_executor(None, partial(producer.list_topics, self._topic, wait))
                break
            except KafkaException as exc:
                producer.poll(0)
                if final or loop.time() >= deadline:
                    why = final[0] if final else state.last_error or _detail(exc.args[0])
                    if state.log and state.log[-1].rsplit(": ", 1)[-1] not in why:
                        why = f"{why}; {state.log[-1]}"
                    raise TargetError(
                        f"Kafka {self._servers}: cannot read metadata for topic {self._topic} ({why})",
                        hint="is the broker up, and are security.protocol and sasl.* right?") from None
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            why = "not in the metadata" if topic is None or topic.error is None else topic.error.str()
            raise TargetError(f"Kafka {self._servers}: topic {self._topic} is not usable ({why})",
                              hint="create it first (kafka-topics.sh --create), or check its ACLs")
        self.partitions = len(topic.partitions)
        while not state.producer_id and loop.time() < deadline + 1.0:
            producer.poll(0)
            await asyncio.sleep(0.01)
        self._producer = producer
        self._poller = asyncio.create_task(self._poll_loop(producer, state))

    async def _poll_loop(self, producer: Producer, state: _State) -> None:
        """Runs the delivery reports on this loop; fast while anything is in flight, idle otherwise."""
        while True:
            try:
                producer.poll(0)
            except Exception as exc:  # a callback's error must not stop the delivery reports
                state.last_error = f"{type(exc).__name__}: {exc}"
            if state.in_flight:
                await asyncio.sleep(POLL_INTERVAL_S)
            else:
                state.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.wake.wait(), IDLE_POLL_S)

    def submit(self, events: Sequence[OutEvent], on_done: OnDone) -> SendResult | None:
        """`produce()` the one event; its delivery report (run by `poll` on this loop) calls `on_done`.

        Refused at once (a full local queue: QUEUE_FULL; a message librdkafka will not take) is
        returned instead, and `on_done` is then never called.
        """
        producer, state = self._producer, self._state
        assert producer is not None, "open() first"
        assert state is not None
        if self._structured and isinstance(events, RawBatch) and isinstance(events.source, EventBlock):
            # a replayed line as recorded: no CloudEvent object, only the fields the key needs
            block, index = events.source, events.start
            value = block.line(index)
            key = self._doc_key(orjson.loads(value))
            correlation = bytes(block.keys[index])
            headers = STRUCTURED_HEADERS
        else:
            out = events[0]
            correlation = out.key
            if self._structured:
                value = structured_body(events) if isinstance(events, RawBatch) else out.structured()
                headers = STRUCTURED_HEADERS
            else:
                try:
                    value, headers = self._binary(out.event)
                except ValueError as exc:
                    return SendResult(Status.FAILED, Reason.OTHER, detail=f"encoding: {exc}")
            key = self._key(out.event)
        delivered = _Report(on_done, correlation, self._offsets, state)
        try:
            producer.produce(self._topic, value, key, headers=headers, on_delivery=delivered)
        except BufferError:
            return QUEUE_FULL
        except Exception as exc:  # KafkaException: refused locally (MSG_SIZE_TOO_LARGE, unknown partition)
            return _refused(exc)
        if not state.in_flight:
            state.wake.set()
        state.in_flight += 1
        return None

    def submit_run(self, events: Sequence[OutEvent], done: Delivered) -> None:
        """Each event `produce()`d as its own message, in one loop: keys, values and headers made first,
        one delivery report function for the run (`_RunReports`); a refused event is answered at once."""
        producer, state = self._producer, self._state
        assert producer is not None, "open() first"
        assert state is not None
        failures: dict[int, SendResult] = {}
        values, keys, headers, correlations = self._messages(events, failures)
        reports = _RunReports(done, correlations, self._offsets, state)
        report = reports.delivered
        produce = producer.produce
        topic = self._topic
        produced = 0
        for index, value in enumerate(values):
            if failures and index in failures:
                done(index, failures[index], 0)
                continue
            try:
                produce(topic, value, keys[index], headers=headers[index],
                        on_delivery=partial(report, index))
            except BufferError:
                done(index, QUEUE_FULL, 0)
                continue
            except Exception as exc:  # KafkaException: refused locally (MSG_SIZE_TOO_LARGE, ...)
                done(index, _refused(exc), 0)
                continue
            produced += 1
        if produced:
            if not state.in_flight:
                state.wake.set()
            state.in_flight += produced

    def _messages(self, events: Sequence[OutEvent], failures: dict[int, SendResult]
                  ) -> tuple[list[bytes], list[bytes | None], list[Headers], list[bytes]]:
        """(values, keys, headers, correlation keys: 16 bytes each) of a run of events; an event
        that cannot be made into a message gets its outcome in `failures` instead."""
        if self._structured and isinstance(events, RawBatch) and isinstance(events.source, EventBlock):
            # replayed lines as recorded: no CloudEvent object, only the fields the key needs
            block, start, stop = events.source, events.start, events.stop
            raw = block.raw
            values = [raw[a:b] for a, b in zip(block.starts[start:stop].tolist(),
                                                 block.ends[start:stop].tolist(), strict=True)]
            doc_key, loads = self._doc_key, orjson.loads
            keys = [doc_key(loads(value)) for value in values]
            joined = block.keys[start:stop].tobytes()
            correlations = [joined[at : at + 16] for at in range(0, len(joined), 16)]
            return values, keys, [STRUCTURED_HEADERS] * len(values), correlations
        outs = list(events)
        if self._structured:
            values = [out.structured() for out in outs]
            headers = [STRUCTURED_HEADERS] * len(outs)
        else:
            binary = self._binary
            values, headers = [], []
            for index, out in enumerate(outs):
                try:
                    value, found = binary(out.event)
                except ValueError as exc:  # --encoding avro: data its schema cannot write
                    value, found = b"", []
                    failures[index] = SendResult(Status.FAILED, Reason.OTHER, detail=f"encoding: {exc}")
                values.append(value)
                headers.append(found)
        key = self._key
        return values, [key(out.event) for out in outs], headers, [out.key for out in outs]

    async def send(self, events: Sequence[OutEvent]) -> SendResult:
        """`submit`, awaited (for callers without the dispatcher's submit path)."""
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()

        def done(result: SendResult) -> None:
            if not future.done():
                future.set_result(result)

        now = self.submit(events, done)
        return now if now is not None else await future

    async def close(self) -> None:
        producer, state = self._producer, self._state
        if producer is not None and state is not None:
            deadline = time.monotonic() + CLOSE_FLUSH_S
            while len(producer) and time.monotonic() < deadline:  # messages still queued or in flight
                producer.poll(0)
                await asyncio.sleep(POLL_INTERVAL_S)
            producer.purge()
            producer.poll(0)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        self._producer = None


OK_KAFKA = SendResult(Status.OK)


def _refused(exc: Exception) -> SendResult:
    """The outcome of a message `produce()` would not take (too large, unknown partition, ...)."""
    error = exc.args[0] if exc.args else None
    if error is not None and hasattr(error, "name"):
        return SendResult(Status.FAILED, _kafka_reason(error), detail=_detail(error))
    return SendResult(Status.FAILED, Reason.OTHER, detail=f"{type(exc).__name__}: {exc}")


class _Report:
    """The delivery report of one `submit`: one object per message in flight, not a closure and its
    four cells (what the cyclic collector scans grows with the messages in flight)."""

    __slots__ = ("correlation", "offsets", "on_done", "state")

    def __init__(self, on_done: OnDone, correlation: bytes, offsets: _OffsetLog | None,
                 state: _State) -> None:
        self.on_done = on_done
        self.correlation = correlation
        self.offsets = offsets
        self.state = state

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        self.state.in_flight -= 1
        if error is None:
            offsets = self.offsets
            if offsets is not None:
                ts_type, ts_ms = message.timestamp()
                offsets.append(self.correlation, message.partition() or 0, message.offset() or 0,
                               ts_type, ts_ms)
            self.on_done(OK_KAFKA)
        else:
            self.on_done(SendResult(Status.FAILED, _kafka_reason(error), detail=_detail(error)))


class _RunReports:
    """The delivery reports of one `submit_run`: the event's index comes bound, the rest is shared."""

    __slots__ = ("correlations", "done", "offsets", "state")

    def __init__(self, done: Delivered, correlations: list[bytes], offsets: _OffsetLog | None,
                 state: _State) -> None:
        self.done = done
        self.correlations = correlations
        self.offsets = offsets
        self.state = state

    def delivered(self, index: int, error: KafkaError | None, message: Message) -> None:
        self.state.in_flight -= 1
        if error is None:
            ack = perf_counter_ns()
            offsets = self.offsets
            if offsets is not None:
                ts_type, ts_ms = message.timestamp()
                offsets.append(self.correlations[index], message.partition() or 0,
                               message.offset() or 0, ts_type, ts_ms)
            self.done(index, OK_KAFKA, ack)
        else:
            self.done(index, SendResult(Status.FAILED, _kafka_reason(error), detail=_detail(error)), 0)
QUEUE_FULL = SendResult(Status.DROPPED, Reason.QUEUE_FULL, detail="_QUEUE_FULL: Local: Queue full")


def _make(options: TargetOptions) -> Target:
    return KafkaTarget(options)


def _validate(options: TargetOptions) -> None:
    if options.mode == "batch":
        raise UsageError("--content-mode batch: the CloudEvents Kafka binding has no batched mode",
                         hint="use --content-mode binary (ce_ headers, the default) or structured")
    kafka = options.transport if isinstance(options.transport, KafkaOptions) else KafkaOptions()
    if kafka.encoding not in ENCODINGS:
        raise UsageError(f"--encoding {kafka.encoding!r}: expected json, avro or protobuf")
    if kafka.encoding != "json" and options.mode != "binary":
        raise UsageError(f"--encoding {kafka.encoding} with --mode {options.mode}: {kafka.encoding} values "
                         "are binary mode's (the structured mode value is the JSON event)",
                         hint="use --mode binary")
    if kafka.registry is not None and options.mode != "binary":
        raise UsageError(f"--registry with --content-mode {options.mode}: the wire format frames binary "
                         "mode's value (the data)", hint="use --content-mode binary")
    parse_url(options.target, kafka.bootstrap)
    key_getter(kafka.key)
    resolve(kafka.merged())  # a missing env: secret is one line before the run


register(TransportSpec(("kafka",), _make, "kafka://HOST:PORT[,HOST:PORT]/TOPIC", _validate))
