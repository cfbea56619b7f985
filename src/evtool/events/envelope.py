"""CloudEvents 1.0 envelope: our own small dataclass, JSON (structured/batch) and HTTP binary mode.

Kept in-house (the `cloudevents` SDK cross-checks it in tests) because the hot path of `generate`
and `simulate` serializes millions of events and a plain dataclass + orjson is several times faster.

`dataschema` names the subject and version the data was written with, as a URN:
``urn:evtool:schema:<subject>:<version>`` (CloudEvents requires an absolute URI there).

**Per-key order.** Generated events carry two documented CloudEvents extensions, set at birth
(`stamp_order`): `partitionkey`, the entity the event is about (order id, SKU, customer id:
what the Kafka target keys messages by), and `sequence`, the event's position in the stream
that made it. `sequence` is a string, as the extension defines it, zero-padded to
`SEQUENCE_WIDTH` digits so that its lexicographic order is its numeric order (the extension's
one constraint). It is monotonic for every key, which is what judging per-key order needs, but
not contiguous per key: that would take one counter per entity ever seen (ten million order
ids: gigabytes) where a stream position takes one integer. Losses are found from the run log,
not from gaps.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from evtool.errors import InputError

SPECVERSION = "1.0"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_STRUCTURED = "application/cloudevents+json"
CONTENT_TYPE_BATCH = "application/cloudevents-batch+json"
DATASCHEMA_PREFIX = "urn:evtool:schema:"

PARTITIONKEY = "partitionkey"  # CloudEvents `partitionkey` extension (Kafka binding: the message key)
SEQUENCE = "sequence"  # CloudEvents `sequence` extension: a lexicographically orderable string
SEQUENCE_WIDTH = 12
_SEQUENCE_SPEC = f"0{SEQUENCE_WIDTH}d"  # format() spec of a `sequence` value
# the entity each bundled domain type is about (its `partitionkey`); the Kafka target keys by it
ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "commerce.order.placed": ("order_id",),
    "inventory.stock.low": ("sku",),
    "support.complaint.filed": ("customer", "customer_id"),
}

_CORE = ("id", "source", "specversion", "type", "time", "datacontenttype", "dataschema", "subject")
_REQUIRED = ("id", "source", "specversion", "type")


def dataschema_uri(subject: str, version: int) -> str:
    """The `dataschema` URI for data written with `version` of `subject`."""
    return f"{DATASCHEMA_PREFIX}{subject}:{version}"


def parse_dataschema(uri: str | None) -> tuple[str, int] | None:
    """(subject, version) named by a `dataschema` value, or None when it is not one of ours.

    Also accepts the bare ``<subject>/<version>`` form for logs written by hand.
    """
    if not uri or not isinstance(uri, str):  # a recorded log's value may be anything
        return None
    return _parse_dataschema_text(uri)


@functools.lru_cache(maxsize=1024)
def _parse_dataschema_text(uri: str) -> tuple[str, int] | None:
    # memoised: a run sends a handful of distinct values, each once per event
    if uri.startswith(DATASCHEMA_PREFIX):
        subject, _, version = uri[len(DATASCHEMA_PREFIX) :].rpartition(":")
    else:
        subject, _, version = uri.rpartition("/")
    if subject and version.isdigit():
        return subject, int(version)
    return None


def format_sequence(position: int) -> str:
    """`sequence` of the event at `position` (1-based) of its stream: zero-padded, so it sorts as text."""
    return format(position, _SEQUENCE_SPEC)


def parse_sequence(value: Any) -> int | None:
    """The integer a `sequence` value stands for (a string of digits, or an integer); None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def entity_key(event_type: str, data: Any) -> str | None:
    """The `partitionkey` of an event of `event_type` with `data`: its entity, None when it has none."""
    fields = ENTITY_FIELDS.get(event_type)
    if fields is None:
        return None
    value = data
    for name in fields:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def stamp_order(events: Iterable[CloudEvent], start: int = 1) -> Iterator[CloudEvent]:
    """Give each event its `partitionkey` (entity) and `sequence` (position in this stream, from `start`).

    An event without an entity gets neither: its order per key means nothing. A `partitionkey`
    the event already has (a recorded log) is kept; so is its `sequence`.
    """
    position = start
    for event in events:
        extensions = event.extensions
        if SEQUENCE not in extensions:
            key = extensions.get(PARTITIONKEY) or entity_key(event.type, event.data)
            if key is not None:
                extensions[PARTITIONKEY] = key
                extensions[SEQUENCE] = format_sequence(position)
        position += 1
        yield event


def _default(value: Any) -> Any:
    """orjson fallback for Avro values JSON has no type for (decimal, bytes/fixed)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1")  # the Avro JSON encoding of bytes
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


@dataclass(slots=True)
class CloudEvent:
    """One CloudEvents 1.0 event; `data` is the decoded payload (a dict for our subjects)."""

    id: str
    source: str
    type: str
    time: str | None = None
    data: Any = None
    dataschema: str | None = None
    datacontenttype: str | None = CONTENT_TYPE_JSON
    subject: str | None = None
    specversion: str = SPECVERSION
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def schema_ref(self) -> tuple[str, int] | None:
        """(subject, version) this event claims its data was written with."""
        return parse_dataschema(self.dataschema)

    def to_dict(self) -> dict[str, Any]:
        """Structured-mode JSON object (attributes at top level, payload under `data`)."""
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        if self.time is not None:
            out["time"] = self.time
        if self.datacontenttype is not None:
            out["datacontenttype"] = self.datacontenttype
        if self.dataschema is not None:
            out["dataschema"] = self.dataschema
        if self.subject is not None:
            out["subject"] = self.subject
        if self.extensions:
            out.update(self.extensions)
        if self.data is not None:
            out["data"] = self.data
        return out

    def to_json_bytes(self) -> bytes:
        """Structured content mode, one compact JSON document (no trailing newline)."""
        if (
            self.subject is None
            and not self.extensions
            and self.time is not None
            and self.datacontenttype is not None
            and self.dataschema is not None
            and self.data is not None
        ):  # the generated event's shape: one literal dict, same keys and order as to_dict
            return orjson.dumps(
                {
                    "specversion": self.specversion,
                    "id": self.id,
                    "source": self.source,
                    "type": self.type,
                    "time": self.time,
                    "datacontenttype": self.datacontenttype,
                    "dataschema": self.dataschema,
                    "data": self.data,
                },
                default=_default,
            )
        extensions = self.extensions
        if (
            self.subject is None
            and len(extensions) == 2
            and self.time is not None
            and self.datacontenttype is not None
            and self.dataschema is not None
            and self.data is not None
            and PARTITIONKEY in extensions
            and SEQUENCE in extensions
        ):  # a generated event with its order stamp: the same, with the two extensions (as to_dict)
            return orjson.dumps(
                {
                    "specversion": self.specversion,
                    "id": self.id,
                    "source": self.source,
                    "type": self.type,
                    "time": self.time,
                    "datacontenttype": self.datacontenttype,
                    "dataschema": self.dataschema,
                    **extensions,
                    "data": self.data,
                },
                default=_default,
            )
        return dumps(self.to_dict())

    def to_binary(self) -> tuple[dict[str, str], bytes]:
        """HTTP binary content mode: (headers, body); attributes become `ce-` headers."""
        headers: dict[str, str] = {
            "ce-specversion": self.specversion,
            "ce-id": self.id,
            "ce-source": self.source,
            "ce-type": self.type,
        }
        if self.time is not None:
            headers["ce-time"] = self.time
        if self.dataschema is not None:
            headers["ce-dataschema"] = self.dataschema
        if self.subject is not None:
            headers["ce-subject"] = self.subject
        for key, value in self.extensions.items():
            headers[f"ce-{key}"] = value if isinstance(value, str) else str(value)
        headers["content-type"] = self.datacontenttype or CONTENT_TYPE_JSON
        if self.data is None:
            return headers, b""
        if isinstance(self.data, bytes):
            return headers, self.data
        return headers, dumps(self.data)

    @classmethod
    def from_dict(cls, obj: Any, *, where: str = "event") -> CloudEvent:
        """Parse a structured-mode object; InputError names what is missing or wrong."""
        if not isinstance(obj, dict):
            raise InputError(f"{where}: a CloudEvent must be a JSON object, got {type(obj).__name__}")
        for key in _REQUIRED:
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise InputError(
                    f"{where}: CloudEvent attribute {key!r} is missing or not a non-empty string",
                    hint="each line must be a structured-mode CloudEvents 1.0 JSON object",
                )
        if obj["specversion"] != SPECVERSION:
            raise InputError(
                f"{where}: unsupported CloudEvents specversion {obj['specversion']!r} (need 1.0)"
            )
        data = obj.get("data")
        if data is None and "data_base64" in obj:
            import base64

            data = base64.b64decode(obj["data_base64"])
        extensions = {k: v for k, v in obj.items() if k not in _CORE and k not in ("data", "data_base64")}
        return cls(
            id=obj["id"],
            source=obj["source"],
            type=obj["type"],
            time=obj.get("time"),
            data=data,
            dataschema=obj.get("dataschema"),
            datacontenttype=obj.get("datacontenttype"),
            subject=obj.get("subject"),
            specversion=obj["specversion"],
            extensions=extensions,
        )

    @classmethod
    def from_json_bytes(cls, raw: bytes | str, *, where: str = "event") -> CloudEvent:
        """One structured-mode event from JSON text (a JSONL line or an HTTP body)."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON: {exc}") from None
        return cls.from_dict(obj, where=where)

    @classmethod
    def from_binary(cls, headers: Mapping[str, str], body: bytes, *, where: str = "request") -> CloudEvent:
        """An HTTP binary-mode event: attributes from `ce-*` headers, data from the body."""
        lower = {k.lower(): v for k, v in headers.items()}
        attrs: dict[str, Any] = {k[3:]: v for k, v in lower.items() if k.startswith("ce-")}
        content_type = lower.get("content-type")
        if content_type is not None:
            attrs["datacontenttype"] = content_type
        if body:
            if content_type is None or _is_json(content_type):
                try:
                    attrs["data"] = orjson.loads(body)
                except orjson.JSONDecodeError as exc:
                    raise InputError(f"{where}: body is not valid JSON: {exc}") from None
            else:
                attrs["data"] = body
        return cls.from_dict(attrs, where=where)

    @classmethod
    def from_http(
        cls, headers: Mapping[str, str], body: bytes, *, where: str = "request"
    ) -> list[CloudEvent]:
        """Any HTTP content mode: structured, batched, or binary (decided by the content type)."""
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media == CONTENT_TYPE_BATCH:
            return decode_batch(body, where=where)
        if media == CONTENT_TYPE_STRUCTURED:
            return [cls.from_json_bytes(body, where=where)]
        return [cls.from_binary(headers, body, where=where)]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def encode_batch(events: Iterable[CloudEvent]) -> bytes:
    """Batched content mode body (`application/cloudevents-batch+json`): a JSON array."""
    return b"[" + b",".join(e.to_json_bytes() for e in events) + b"]"


def decode_batch(body: bytes, *, where: str = "batch") -> list[CloudEvent]:
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{where}: batch is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise InputError(f"{where}: a CloudEvents batch must be a JSON array")
    return [CloudEvent.from_dict(item, where=f"{where}[{i}]") for i, item in enumerate(items)]
