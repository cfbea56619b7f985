from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from evtool.catalog import SchemaFile, load_catalog
from evtool.errors import SchemaError
from evtool.events import EventStream, GenerateOptions, parse_mix
from evtool.formats.avro.generate import compile_avro_schema
from evtool.formats.jsonschema.generate import compile_json_schema
from evtool.formats.jsonschema.patterns import compile_pattern
from evtool.values.context import GenContext
from evtool.values.pools import build_pools

Check = Callable[[SchemaFile], Callable[[Any], None]]
Write = Callable[[str, int, str, str], Path]

USER_JSON = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "payment_id": {"type": "string", "format": "uuid"},
        "email": {"type": "string", "format": "email"},
        "customer_name": {"type": "string", "maxLength": 80},
        "city": {"type": "string"},
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 5000, "multipleOf": 0.01},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 9},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3,5}(-X)?$"},
        "status": {"enum": ["authorized", "captured", "declined"]},
        "kind": {"const": "card"},
        "paid_at": {"type": "string", "format": "date-time"},
        "due": {"type": "string", "format": "date"},
        "website": {"type": "string", "format": "uri"},
        "tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 2},
            "minItems": 1,
            "maxItems": 4,
            "uniqueItems": True,
        },
        "note": {"type": ["string", "null"], "minLength": 3, "maxLength": 5},
        "method": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "card"},
                        "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
                    },
                    "required": ["type", "last4"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "iban"},
                        "iban": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{20}$"},
                    },
                    "required": ["type", "iban"],
                    "additionalProperties": False,
                },
            ]
        },
        "extra": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "boolean"}]},
        "address": {"allOf": [{"$ref": "#/$defs/address"}, {"required": ["zip"]}]},
        "tree": {"$ref": "#/$defs/node"},
        "pair": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "items": False,
            "minItems": 2,
        },
    },
    "required": [
        "payment_id",
        "email",
        "amount",
        "code",
        "status",
        "kind",
        "method",
        "tree",
        "address",
        "pair",
    ],
    "additionalProperties": False,
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["street"],
        },
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
            },
            "required": ["label"],
        },
    },
}

USER_AVRO = {
    "type": "record",
    "name": "Shipment",
    "namespace": "com.example",
    "fields": [
        {"name": "shipment_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "city", "type": "string"},
        {"name": "weight", "type": "double"},
        {"name": "parcels", "type": "int"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["PACKED", "SHIPPED"]}},
        {"name": "shipped_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "shipped_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 2}},
        {
            "name": "fee",
            "type": {
                "type": "fixed",
                "name": "Fee",
                "size": 4,
                "logicalType": "decimal",
                "precision": 6,
                "scale": 1,
            },
        },
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 8}},
        {"name": "blob", "type": "bytes"},
        {"name": "labels", "type": {"type": "map", "values": "string"}},
        {
            "name": "items",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Item",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "long"}],
                },
            },
        },
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "next", "type": ["null", "Shipment"], "default": None},
        {"name": "status_again", "type": "Status"},
    ],
}


def test_user_json_schema_generates_valid_realistic_events(
    write_schema: Write, reference_check: Check
) -> None:
    root = write_schema("payments.payment.authorized", 1, orjson.dumps(USER_JSON).decode(), ".json")
    catalog = load_catalog(root)
    check = reference_check(catalog.subject("payments.payment.authorized").latest)
    events = list(
        EventStream(
            catalog, GenerateOptions(mix=parse_mix("payments.payment.authorized"), count=2000, validate=True)
        )
    )
    for event in events:
        check(event.data)
    emails = {e.data["email"] for e in events}
    assert all(re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+", e) for e in emails)  # pool e-mails, not random text
    assert {e.data["method"]["type"] for e in events} == {"card", "iban"}
    assert any(e.data["tree"].get("children") for e in events)  # recursion happens, and stops


def test_user_avro_schema_generates_encodable_events(write_schema: Write, reference_check: Check) -> None:
    root = write_schema("logistics.shipment.sent", 1, orjson.dumps(USER_AVRO).decode(), ".avsc")
    catalog = load_catalog(root)
    check = reference_check(catalog.subject("logistics.shipment.sent").latest)
    events = list(
        EventStream(
            catalog, GenerateOptions(mix=parse_mix("logistics.shipment.sent"), count=2000, validate=True)
        )
    )
    for event in events:
        check(event.data)
    assert any(e.data["next"] is not None for e in events)
    assert all(e.to_json_bytes() for e in events)  # bytes and decimals still render as JSON


def _draw(compile_: Callable[..., Callable[[GenContext], Any]], schema: Any, source: str) -> None:
    """Compile, then draw 50 values: contradictions must surface in one of the two steps."""
    generate = compile_(schema, source=source)
    ctx = _ctx()
    for _ in range(50):
        generate(ctx)


def _ctx() -> GenContext:
    return GenContext(random.Random(1), build_pools(1, customers=20, products=20), 1_700_000_000_000)


@pytest.mark.parametrize(
    ("schema", "pointer"),
    [
        (
            {
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 5, "maxLength": 2}},
                "required": ["name"],
            },
            "/properties/name",
        ),
        (
            {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 3}},
                "required": ["n"],
            },
            "/properties/n",
        ),
        (
            {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 2, "multipleOf": 5}},
                "required": ["n"],
            },
            "/properties/n",
        ),
        (
            {
                "type": "object",
                "properties": {"c": {"type": "integer", "enum": ["a", "b"]}},
                "required": ["c"],
            },
            "/properties/c/enum",
        ),
        (
            {
                "type": "object",
                "properties": {"c": {"type": "string", "pattern": "^[0-9]{3}$", "minLength": 5}},
                "required": ["c"],
            },
            "/properties/c",
        ),
        ({"type": "object", "properties": {}, "required": ["x"], "additionalProperties": False}, ""),
        ({"type": "array", "items": {"enum": [1, 2]}, "minItems": 3, "uniqueItems": True}, ""),
        ({"type": "array", "minItems": 4, "maxItems": 1}, ""),
        (
            {
                "$ref": "#/$defs/loop",
                "$defs": {
                    "loop": {
                        "type": "object",
                        "properties": {"x": {"$ref": "#/$defs/loop"}},
                        "required": ["x"],
                    }
                },
            },
            "",
        ),
        (
            {"type": "object", "properties": {"p": {"type": "string", "pattern": "(["}}, "required": ["p"]},
            "/properties/p/pattern",
        ),
    ],
)
def test_contradictory_json_schemas_raise_schema_error_quickly(schema: dict[str, Any], pointer: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SchemaError) as info:
        _draw(compile_json_schema, schema, "my.json")
    assert time.perf_counter() - started < 2.0
    assert "my.json" in str(info.value)
    if pointer:
        assert info.value.pointer is not None
        assert info.value.pointer.startswith(pointer)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "R", "fields": [{"name": "me", "type": "R"}]},
        {"type": "record", "name": "R", "fields": [{"name": "x", "type": "Missing"}]},
        {"type": "enum", "name": "E", "symbols": []},
        {"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 5},
    ],
)
def test_impossible_avro_schemas_raise_schema_error(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match=r"my\.avsc"):
        _draw(compile_avro_schema, schema, "my.avsc")


@pytest.mark.parametrize(
    "pattern",
    [
        r"^SKU-[0-9]{5}$",
        r"^WH-[A-Z]{3}-[0-9]{2}$",
        r"(ab|c)+\d\w[^a-z]\1.",
        r"^(?=.*[A-Z])[a-zA-Z]{8}$",
        r"^[\w.]+@[a-z]+\.(com|org)$",
        r"x*?y+?z{2,}",
        r"^\S+\s\D$",
    ],
)
def test_pattern_strings_match(pattern: str) -> None:
    generate = compile_pattern(pattern)
    rng = random.Random(5)
    for _ in range(500):
        assert re.search(pattern, generate(rng))


def test_impossible_lookahead_is_reported_not_looped() -> None:
    with pytest.raises(SchemaError, match="cannot generate"):
        compile_pattern(r"^(?=x)[0-9]$", pointer="/properties/p/pattern")
