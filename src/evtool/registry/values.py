"""Reading wire-format values someone else wrote: the writer's schema fetched by its id, once.

A consumer that writes its decisions with a registry-aware serializer frames each value with the
id of *its* schema, which evtool never saw. So the result source asks the registry
(`GET /schemas/ids/{id}`) the first time an id appears and keeps the answer for the run: JSON
values are read as JSON, Avro values decoded with the writer's schema (fastavro). Protobuf values
would need the writer's .proto compiled with its references; they are not decoded yet and are
counted unreadable with that reason. When the registry cannot say (unreachable, or the id unknown
to it) the values of that id are read as JSON, the frame's common case, and the run's problems say
so once.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastavro
import orjson

from evtool.errors import EvtoolError
from evtool.registry.client import SchemaById

Decode = Callable[[bytes], Any]


class UnreadableValue(Exception):
    """Why one value could not be read; the result source counts it under this reason."""


@dataclass(slots=True)
class WireValues:
    """Decoders by schema id, each made from the registry's answer the first time the id is seen.

    `fetch` is called at most once per id (a failure is remembered too), so an id the registry
    lacks costs one request for the run, not one per record.
    """

    fetch: Callable[[int], SchemaById]
    notes: list[str] = field(default_factory=list)  # ids whose schema could not be had, once each
    _decoders: dict[int, Decode | str] = field(default_factory=dict)

    def decode(self, schema_id: int, payload: bytes) -> Any:
        decoder = self._decoders.get(schema_id)
        if decoder is None:
            decoder = self._decoders[schema_id] = self._decoder(schema_id)
        if isinstance(decoder, str):
            raise UnreadableValue(decoder)
        return decoder(payload)

    def _decoder(self, schema_id: int) -> Decode | str:
        try:
            found = self.fetch(schema_id)
        except EvtoolError as exc:
            self.notes.append(f"schema id {schema_id}: {exc.message}; its values read as JSON")
            return _json
        if found.schema_type == "JSON":
            return _json
        if found.schema_type == "AVRO":
            try:
                parsed = fastavro.parse_schema(json.loads(found.schema))
            except (ValueError, fastavro.schema.SchemaParseException) as exc:
                return f"schema id {schema_id}: the registry's Avro schema does not parse ({exc})"
            return _avro(parsed, schema_id)
        return f"schema id {schema_id}: {found.schema_type} values are not decoded (JSON and Avro are)"


def _json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise UnreadableValue("framed JSON value is not JSON") from exc


def _avro(schema: Any, schema_id: int) -> Decode:
    def decode(payload: bytes) -> Any:
        body = io.BytesIO(payload)
        try:
            value = fastavro.schemaless_reader(body, schema, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise UnreadableValue(f"Avro value does not decode with schema id {schema_id}") from exc
        if body.tell() != len(payload):
            raise UnreadableValue(f"Avro value longer than one datum of schema id {schema_id}")
        return value

    return decode
