"""Event logs on disk: JSONL (one structured CloudEvent per line) and Avro object container files.

Both stream: writers consume an iterator, readers yield one event at a time, so a log of any
size passes through in constant memory. Same events in, same bytes out (the Avro sync marker is
derived from the first event id instead of being random).

Avro container layout (record `evtool.CloudEvent`): the context attributes as fields,
`extensions` as a string map, and `data` as bytes — for an Avro subject the Avro binary
encoding of the data under the exact schema version named by `dataschema`, for a JSON subject
the UTF-8 JSON text. The writer schemas of the Avro subjects are stored in the file header
(`evtool.schemas`: dataschema URI -> schema), so the file is readable without the catalogue.
Why bytes and not a union of records: versions of one subject share a record name, which an
Avro union cannot hold twice.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from evtool.catalog.model import Catalog, SchemaFormat
from evtool.errors import InputError
from evtool.events.envelope import CloudEvent, dumps

AVRO_MAGIC = b"Obj\x01"
SCHEMAS_META = "evtool.schemas"
_BATCH = 512

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "CloudEvent",
    "namespace": "evtool",
    "doc": "A CloudEvents 1.0 event; data is Avro binary (Avro subjects) or UTF-8 JSON (JSON subjects).",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "source", "type": "string"},
        {"name": "specversion", "type": "string"},
        {"name": "type", "type": "string"},
        {"name": "time", "type": ["null", "string"], "default": None},
        {"name": "datacontenttype", "type": ["null", "string"], "default": None},
        {"name": "dataschema", "type": ["null", "string"], "default": None},
        {"name": "subject", "type": ["null", "string"], "default": None},
        {"name": "extensions", "type": {"type": "map", "values": "string"}, "default": {}},
        {"name": "data", "type": ["null", "bytes"], "default": None},
    ],
}


# ------------------------------------------------------------------------------------------ JSONL


def write_jsonl(events: Iterable[CloudEvent], out: IO[bytes]) -> int:
    """Write one compact JSON CloudEvent per line; returns how many were written."""
    count = 0
    chunk: list[bytes] = []
    append = chunk.append
    for event in events:
        append(event.to_json_bytes())
        if len(chunk) >= _BATCH:
            out.write(b"\n".join(chunk) + b"\n")
            count += len(chunk)
            chunk.clear()
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
        count += len(chunk)
    return count


def read_jsonl(stream: IO[bytes], *, name: str = "<stream>") -> Iterator[CloudEvent]:
    """Events of a JSONL stream; blank lines are skipped; InputError names file and line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        yield CloudEvent.from_json_bytes(line, where=f"{name}:{number}")


# ------------------------------------------------------------------------------------------- Avro


def _writer_schemas(catalog: Catalog | None) -> dict[str, Any]:
    from evtool.events.envelope import dataschema_uri

    if catalog is None:
        return {}
    return {
        dataschema_uri(s.subject, s.version): s.document
        for subject in catalog.subjects.values()
        if subject.format is SchemaFormat.AVRO
        for s in subject.versions
    }


def write_avro(
    events: Iterable[CloudEvent], out: IO[bytes], catalog: Catalog | None, *, codec: str = "deflate"
) -> int:
    """Write an Avro object container file of envelopes; returns how many events were written.

    `catalog` supplies the Avro writer schemas for Avro subjects' data (all its Avro versions go
    into the header); events of Avro subjects need it, JSON subjects do not.
    """
    import fastavro

    schemas = _writer_schemas(catalog)
    parsed: dict[str, Any] = {}
    counter = [0]
    iterator = iter(events)
    first = next(iterator, None)
    seed = first.id.encode() if first is not None else b"evtool"
    sync_marker = hashlib.sha256(seed).digest()[:16]

    def records() -> Iterator[dict[str, Any]]:
        if first is None:
            return
        for event in _chain(first, iterator):
            counter[0] += 1
            yield _to_record(event, schemas, parsed)

    try:
        fastavro.writer(
            out,
            fastavro.parse_schema(ENVELOPE_SCHEMA),
            records(),
            codec=codec,
            metadata={SCHEMAS_META: orjson.dumps(schemas).decode()},
            sync_marker=sync_marker,
        )
    except ValueError as exc:
        raise InputError(f"cannot write Avro: {exc}") from None
    return counter[0]


def _chain(first: CloudEvent, rest: Iterator[CloudEvent]) -> Iterator[CloudEvent]:
    yield first
    yield from rest


def _to_record(event: CloudEvent, schemas: dict[str, Any], parsed: dict[str, Any]) -> dict[str, Any]:
    import fastavro

    data: bytes | None
    if event.data is None:
        data = None
    elif event.dataschema in schemas:
        schema = parsed.get(event.dataschema)
        if schema is None:
            schema = parsed[event.dataschema] = fastavro.parse_schema(schemas[event.dataschema])
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, schema, event.data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"event {event.id}: data does not fit {event.dataschema}: {exc}") from None
        data = buffer.getvalue()
    elif isinstance(event.data, bytes):
        data = event.data
    else:
        data = dumps(event.data)
    return {
        "id": event.id,
        "source": event.source,
        "specversion": event.specversion,
        "type": event.type,
        "time": event.time,
        "datacontenttype": event.datacontenttype,
        "dataschema": event.dataschema,
        "subject": event.subject,
        "extensions": {k: v if isinstance(v, str) else str(v) for k, v in event.extensions.items()},
        "data": data,
    }


def _raw_reader_schema(document: Any) -> Any:
    """The schema without logical types except decimal: timestamps stay ints, as generated."""
    if isinstance(document, list):
        return [_raw_reader_schema(d) for d in document]
    if isinstance(document, dict):
        out = {k: _raw_reader_schema(v) for k, v in document.items()}
        if "logicalType" in out and out["logicalType"] != "decimal":
            del out["logicalType"]
        return out
    return document


def read_avro(
    stream: IO[bytes], *, name: str = "<stream>", catalog: Catalog | None = None
) -> Iterator[CloudEvent]:
    """Events of an Avro container written by `write_avro` (data decoded back to plain values)."""
    import fastavro

    try:
        reader = fastavro.reader(stream)
    except (ValueError, EOFError) as exc:
        raise InputError(f"{name}: not a readable Avro container: {exc}") from None
    meta = reader.metadata.get(SCHEMAS_META)
    schemas: dict[str, Any] = orjson.loads(meta) if meta else {}
    for key, value in _writer_schemas(catalog).items():
        schemas.setdefault(key, value)
    parsed: dict[str, Any] = {}
    for index, record in enumerate(reader):
        if not isinstance(record, dict):
            raise InputError(f"{name}: record {index} is not an evtool CloudEvent envelope")
        yield _from_record(record, schemas, parsed, where=f"{name}: record {index}")


def _from_record(
    record: dict[str, Any], schemas: dict[str, Any], parsed: dict[str, Any], *, where: str
) -> CloudEvent:
    import fastavro

    raw = record.get("data")
    data: Any = None
    uri = record.get("dataschema")
    if raw is not None:
        if uri in schemas:
            schema = parsed.get(uri)
            if schema is None:
                schema = parsed[uri] = fastavro.parse_schema(_raw_reader_schema(schemas[uri]))
            data = fastavro.schemaless_reader(io.BytesIO(raw), schema, None)
        else:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = raw
    try:
        return CloudEvent(
            id=record["id"],
            source=record["source"],
            type=record["type"],
            time=record.get("time"),
            data=data,
            dataschema=uri,
            datacontenttype=record.get("datacontenttype"),
            subject=record.get("subject"),
            specversion=record["specversion"],
            extensions=dict(record.get("extensions") or {}),
        )
    except KeyError as exc:
        raise InputError(f"{where}: envelope field {exc} missing") from None


# ----------------------------------------------------------------------------------------- either


def iter_events(path: Path, *, catalog: Catalog | None = None) -> Iterator[CloudEvent]:
    """Events of a recorded log, JSONL or Avro container (told apart by the Avro magic bytes)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from None
    with handle:
        if handle.read(4) == AVRO_MAGIC:
            handle.seek(0)
            yield from read_avro(handle, name=str(path), catalog=catalog)
        else:
            handle.seek(0)
            yield from read_jsonl(handle, name=str(path))
