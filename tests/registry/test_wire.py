"""The wire format, byte for byte, and schema ids looked up once per version."""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from tests.support.fake_schema_registry import FakeSchemaRegistry
from tests.support.schema_histories import ORDER_V1

from evtool.errors import InputError
from evtool.registry.client import RegistryClient, RegistrySettings
from evtool.registry.wire import SchemaIds, frame, unframe


def test_an_avro_value_is_magic_id_then_schemaless_avro() -> None:
    schema = fastavro.parse_schema(ORDER_V1)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, {"orderId": "ORD-1", "totalCents": 1250})
    value = frame(42, buffer.getvalue())
    assert value[:5] == b"\x00\x00\x00\x00\x2a"  # magic 0, id 42 big-endian
    framed = unframe(value)
    assert framed.schema_id == 42
    decoded = fastavro.schemaless_reader(io.BytesIO(framed.payload), schema)
    assert decoded == {"orderId": "ORD-1", "totalCents": 1250}


@pytest.mark.parametrize(
    ("indexes", "encoded"), [((0,), b"\x00"), ((1,), b"\x02\x02"), ((0, 2), b"\x04\x00\x04")]
)
def test_protobuf_message_indexes(indexes: tuple[int, ...], encoded: bytes) -> None:
    value = frame(7, b"PB", message_indexes=indexes)
    assert value[5:] == encoded + b"PB"
    framed = unframe(value, protobuf=True)
    assert framed.message_indexes == indexes
    assert framed.payload == b"PB"


def test_a_value_not_in_the_wire_format_is_refused() -> None:
    with pytest.raises(InputError, match="wire format"):
        unframe(b'{"json": true}')


def test_ids_are_looked_up_once_per_version(registry: FakeSchemaRegistry) -> None:
    schema_id = registry.add("orders-value", ORDER_V1)
    with RegistryClient(RegistrySettings(url=registry.url)) as client:
        ids = SchemaIds(client)
        for _ in range(5):
            assert ids.id_of("orders-value", json.dumps(ORDER_V1), "AVRO") == schema_id
        lookups = [r for r in registry.requests if r == ("POST", "/subjects/orders-value")]
        assert len(lookups) == 1
        with pytest.raises(InputError, match="not registered"):
            ids.id_of("orders-value", json.dumps({**ORDER_V1, "doc": "x"}), "AVRO")
