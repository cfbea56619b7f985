"""The Schema Registry wire format: what registry-aware serializers put in a Kafka record value.

    byte 0      magic byte 0
    bytes 1-4   the schema id, big-endian
    then        Avro binary (no container header) | JSON text | Protobuf: message indexes, then the message

Protobuf's message indexes say which message of the .proto file the payload is: a zigzag-varint
count and that many zigzag-varint indexes, with the common case (the first message) written as a
single 0 byte.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat
from evtool.config import Settings
from evtool.errors import InputError, UsageError
from evtool.events.envelope import dataschema_uri
from evtool.formats.protobuf.varint import zigzag
from evtool.registry.client import RegistryClient
from evtool.registry.naming import registry_subject
from evtool.registry.published import schema_type_of

MAGIC = 0
_HEADER = struct.Struct(">bI")


@dataclass(frozen=True, slots=True)
class Framed:
    schema_id: int
    payload: bytes  # after the header (and after Protobuf's message indexes)
    message_indexes: tuple[int, ...] = ()


def frame(schema_id: int, payload: bytes, *, message_indexes: tuple[int, ...] | None = None) -> bytes:
    """The record value for `payload` written with schema `schema_id` (indexes only for Protobuf)."""
    head = _HEADER.pack(MAGIC, schema_id)
    if message_indexes is None:
        return head + payload
    return head + _indexes(message_indexes) + payload


def unframe(value: bytes, *, protobuf: bool = False) -> Framed:
    """The schema id and payload of a record value; InputError for a value not in the wire format."""
    if len(value) < _HEADER.size or value[0] != MAGIC:
        raise InputError(
            "record value is not in the Schema Registry wire format (no magic byte 0 and schema id)"
        )
    _, schema_id = _HEADER.unpack_from(value)
    rest = value[_HEADER.size :]
    if not protobuf:
        return Framed(schema_id, rest)
    count, at = _read_zigzag(rest, 0)
    if count == 0:
        return Framed(schema_id, rest[at:], (0,))
    indexes = []
    for _ in range(count):
        index, at = _read_zigzag(rest, at)
        indexes.append(index)
    return Framed(schema_id, rest[at:], tuple(indexes))


def _indexes(indexes: tuple[int, ...]) -> bytes:
    if indexes in ((), (0,)):
        return b"\x00"
    return zigzag(len(indexes)) + b"".join(zigzag(i) for i in indexes)


def _read_zigzag(data: bytes, at: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if at >= len(data):
            raise InputError("record value ends inside its Protobuf message indexes")
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7
        if shift > 63:
            raise InputError("record value has a malformed Protobuf message index")


class SchemaIds:
    """Schema ids looked up once per (subject, schema text): a run asks the registry per version, not
    per event."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client
        self._ids: dict[tuple[str, str, str], int] = {}

    def id_of(self, subject: str, schema: str, schema_type: str) -> int:
        key = (subject, schema_type, schema)
        found = self._ids.get(key)
        if found is None:
            registered = self._client.lookup(subject, schema, schema_type)
            if registered is None:
                raise InputError(
                    f"the schema evtool would write is not registered under {subject!r}",
                    hint="register it first (evtool schema push), or check the subject naming in [registry]",
                )
            found = self._ids[key] = registered.id
        return found


ENCODED_FORMATS = {"avro": SchemaFormat.AVRO, "json": SchemaFormat.JSON, "protobuf": SchemaFormat.PROTOBUF}


def registered_ids(
    schemas: Iterable[SchemaFile], catalog: Catalog, settings: Settings, client: RegistryClient, *,
    encoding: str,
) -> tuple[tuple[str, int], ...]:
    """The schema id of every subject version a run will write, by dataschema URI, asked before time
    zero: a version the registry lacks is one line (UsageError) before anything is sent, never a
    run of values framed with nothing a consumer could look up."""
    ids = SchemaIds(client)
    wanted = ENCODED_FORMATS[encoding]
    out: dict[str, int] = {}
    for schema in schemas:
        uri = dataschema_uri(schema.subject, schema.version)
        if uri in out:
            continue
        if schema.format is not wanted:
            raise UsageError(
                f"--registry with --encoding {encoding}: subject {schema.subject} (version {schema.version}) "
                f"is {schema.format.value}, so its values cannot be {encoding} under its registered schema",
                hint="send subjects of one format (--mix), or choose the --encoding of their format")
        name = registry_subject(catalog.subject(schema.subject), settings)
        try:
            protobuf = schema.format is SchemaFormat.PROTOBUF
            schema_type = "PROTOBUF" if protobuf else schema_type_of(schema.format)
            out[uri] = ids.id_of(name, schema.text, schema_type)
        except InputError:
            raise UsageError(
                f"--registry {client.url}: subject {schema.subject} version {schema.version} is not "
                f"registered (registry subject {name!r}): register it first with evtool schema push",
            ) from None
    return tuple(out.items())
