"""Every lint rule fails on a bad example and passes the same schema fixed; every rule has a case."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evtool.catalog.model import SchemaFile, SchemaFormat, Subject
from evtool.config import SubjectSettings
from evtool.lint import fields as lint_fields
from evtool.lint.fields import WALKERS
from evtool.lint.model import Kind, LintTarget, SchemaView
from evtool.lint.rule import Rule, all_rules
from evtool.modes import CompatibilityMode


def avro_order(**changes: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "record",
        "name": "OrderPlaced",
        "namespace": "com.acme",
        "doc": "An order was placed.",
        "fields": [
            {"name": "order_id", "type": "string", "doc": "The order."},
            {"name": "total_minor", "type": "long", "doc": "Total in minor units."},
            {
                "name": "placed_at",
                "type": {"type": "long", "logicalType": "timestamp-millis"},
                "doc": "When.",
            },
            {"name": "email", "type": "string", "doc": "Buyer's e-mail.", "confluent:tags": ["PII"]},
            {
                "name": "channel",
                "doc": "Where.",
                "default": "WEB",
                "type": {
                    "type": "enum",
                    "name": "Channel",
                    "symbols": ["WEB", "STORE", "UNKNOWN"],
                    "default": "UNKNOWN",
                    "doc": "Sales channel; UNKNOWN for new ones.",
                },
            },
        ],
    }
    schema.update(changes)
    return schema


def json_complaint() -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "ComplaintFiled",
        "description": "A complaint.",
        "type": "object",
        "required": ["complaint_id"],
        "properties": {
            "complaint_id": {"type": "string", "description": "Its id.", "examples": ["C-1"]},
            "category": {"type": "string", "enum": ["late", "damaged", "other"], "description": "What."},
        },
    }


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


DECLARED = SubjectSettings(mode=CompatibilityMode.BACKWARD, owner="team")


def proto_refund(*, note_field: str = "string customer_note = 6;", reserved: str = "",
                 reason_zero: str = "REASON_UNSPECIFIED = 0;", message: str = "RefundIssued") -> str:
    """A .proto subject version (text: protoc compiles it when the walker reads it)."""
    return (
        'syntax = "proto3";\npackage payments.v1;\n\n'
        f"// A refund was issued.\nmessage {message} {{\n"
        "  string refund_id = 1;  // the refund\n"
        "  int64 amount_minor = 2;  // in minor units\n"
        f"  {reserved}\n"
        "  // why\n  enum Reason {\n"
        f"    {reason_zero}\n    DAMAGED = 1;\n    LATE = 2;\n  }}\n"
        "  Reason reason = 3;  // why it was refunded\n"
        f"  {note_field}  // shown to the customer\n"
        "}\n"
    )


GOOD_PROTO = proto_refund()


@dataclass(frozen=True)
class Case:
    fmt: SchemaFormat
    good: Any  # the schema document (Avro, JSON Schema) or the .proto text
    bad: Any
    previous: Any = None
    settings: SubjectSettings | None = DECLARED
    bad_settings: SubjectSettings | None = None


def _bad(fmt_schema: dict[str, Any], mutate: Any) -> dict[str, Any]:
    copied = copy.deepcopy(fmt_schema)
    mutate(copied)
    return copied


AVRO, JSON, PROTOBUF = SchemaFormat.AVRO, SchemaFormat.JSON, SchemaFormat.PROTOBUF
GOOD_AVRO = avro_order()
GOOD_JSON = json_complaint()
CASES: dict[str, Case] = {
    "EV101": Case(AVRO, GOOD_AVRO, avro_order(name="order_placed")),
    "EV102": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: field(s, "order_id").update(name="orderId"))),
    "EV103": Case(
        AVRO,
        GOOD_AVRO,
        _bad(GOOD_AVRO, lambda s: field(s, "channel")["type"].update(symbols=["web", "STORE", "UNKNOWN"])),
    ),
    "EV104": Case(PROTOBUF, GOOD_PROTO, proto_refund(note_field="string customerNote = 6;")),
    "EV304": Case(PROTOBUF, GOOD_PROTO, proto_refund(reason_zero="UNKNOWN = 0;")),
    "EV305": Case(
        PROTOBUF,
        proto_refund(note_field="", reserved='reserved 6; reserved "customer_note";'),
        proto_refund(note_field="", reserved="reserved 6;"),  # the number, not the name
        previous=GOOD_PROTO,
    ),
    "EV201": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: s.pop("doc"))),
    "EV202": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: field(s, "order_id").pop("doc"))),
    "EV203": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: field(s, "channel")["type"].pop("doc"))),
    "EV301": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: field(s, "channel")["type"].pop("default"))),
    "EV302": Case(
        AVRO,
        _bad(
            GOOD_AVRO,
            lambda s: s["fields"].append(
                {"name": "coupon_code", "type": ["null", "string"], "default": None, "doc": "A coupon."}
            ),
        ),
        _bad(
            GOOD_AVRO,
            lambda s: s["fields"].append({"name": "coupon_code", "type": "string", "doc": "A coupon."}),
        ),
        previous=GOOD_AVRO,
    ),
    "EV303": Case(
        AVRO,
        GOOD_AVRO,
        _bad(GOOD_AVRO, lambda s: field(s, "email").pop("confluent:tags")),
        previous=GOOD_AVRO,
    ),
    "EV401": Case(
        AVRO,
        GOOD_AVRO,
        _bad(GOOD_AVRO, lambda s: field(s, "total_minor").update(name="total", type="double")),
    ),
    "EV402": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: field(s, "placed_at").update(type="long"))),
    "EV501": Case(AVRO, GOOD_AVRO, _bad(GOOD_AVRO, lambda s: field(s, "email").pop("confluent:tags"))),
    "EV502": Case(
        JSON, GOOD_JSON, _bad(GOOD_JSON, lambda s: s["properties"]["complaint_id"].update(examples=[42]))
    ),
    "EV601": Case(
        JSON,
        _bad(
            GOOD_JSON,
            lambda s: s["properties"].update(
                specversion={"type": "string", "description": "1.0"},
                id={"type": "string", "description": "id"},
                source={"type": "string", "description": "s"},
                type={"type": "string", "description": "t"},
                time={"type": "string", "format": "date-time", "description": "t"},
            ),
        ),
        _bad(
            GOOD_JSON,
            lambda s: s["properties"].update(
                specversion={"type": "string", "description": "1.0"},
                id={"type": "string", "description": "id"},
                source={"type": "string", "description": "s"},
                type={"type": "string", "description": "t"},
                time={"type": "integer", "description": "t"},
            ),
        ),
    ),
    "EV701": Case(AVRO, GOOD_AVRO, GOOD_AVRO, bad_settings=SubjectSettings(owner="team")),
    "EV702": Case(AVRO, GOOD_AVRO, GOOD_AVRO, bad_settings=SubjectSettings(mode=CompatibilityMode.BACKWARD)),
}


def _file(fmt: SchemaFormat, version: int, schema: Any) -> SchemaFile:
    if fmt is PROTOBUF:
        return SchemaFile("orders", version, fmt, Path(f"schemas/orders/{version}.proto"), schema, schema)
    text = json.dumps(schema, indent=2)
    return SchemaFile("orders", version, fmt, Path(f"schemas/orders/{version}"), text, schema)


def violations(
    rule: Rule,
    fmt: SchemaFormat,
    schema: Any,
    previous: Any,
    settings: SubjectSettings | None,
) -> list[str]:
    current = _file(fmt, 2 if previous else 1, schema)
    before = _file(fmt, 1, previous) if previous else None
    subject = Subject("orders", fmt, (before, current) if before else (current,))
    target = LintTarget(
        subject, current, view_of(current), before, view_of(before) if before else None, settings
    )
    return [v.message for v in rule.check(target)]


def view_of(schema: SchemaFile) -> SchemaView:
    view = lint_fields.view_of(schema)
    assert view is not None
    return view


@pytest.mark.parametrize(
    "rule", [r for r in all_rules() if r.code in CASES], ids=lambda r: f"{r.code}-{r.name}"
)
def test_a_rule_fails_the_bad_example_and_passes_the_good_one(rule: type[Rule]) -> None:
    case = CASES[rule.code]
    assert violations(rule(), case.fmt, case.good, case.previous, case.settings) == []
    bad = violations(rule(), case.fmt, case.bad, case.previous, case.bad_settings or case.settings)
    assert bad, f"{rule.code} found nothing wrong in its bad example"


def test_every_rule_is_documented_and_has_a_case_here() -> None:
    rules = all_rules()
    assert len({r.code for r in rules}) == len(rules)
    for rule in rules:
        assert rule.documentation().strip(), f"{rule.code} has no docstring (its documentation)"
        assert rule.code in CASES or rule.code == "EV703", f"{rule.code} has no test case"


def test_json_schema_fields_walk_through_refs_and_required(tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "title": "T",
        "required": ["a"],
        "properties": {"a": {"$ref": "#/definitions/buyer"}, "b": {"type": "number"}},
        "definitions": {
            "buyer": {"type": "object", "properties": {"email": {"type": "string", "x-pii": True}}}
        },
    }
    view = WALKERS[JSON](schema)
    by_path = {f.path: f for f in view.fields}
    assert set(by_path) == {"a", "b", "a.email"}
    assert not by_path["a"].optional
    assert by_path["b"].optional
    assert by_path["a.email"].pointer == "/definitions/buyer/properties/email"
    assert "PII" in by_path["a.email"].tags


def _proto_violations(code: str, text: str, previous: str | None = None) -> list[str]:
    rule = next(r for r in all_rules() if r.code == code)
    return violations(rule(), PROTOBUF, text, previous, DECLARED)


def test_protobuf_rules_name_what_is_wrong() -> None:
    assert _proto_violations("EV104", proto_refund(note_field="string customerNote = 6;")) == [
        "field 'customerNote' is not lower_snake_case"
    ]
    # proto3 enums must start at 0 (protoc says so); proto2 ones need not
    proto2 = 'syntax = "proto2";\npackage p;\nenum Reason { REASON_UNSPECIFIED = 1; LATE = 2; }\n'
    assert _proto_violations("EV304", proto2) == [
        "enum 'Reason' starts with REASON_UNSPECIFIED = 1; its first value should be *_UNSPECIFIED = 0"
    ]
    deleted = proto_refund(note_field="")
    assert _proto_violations("EV305", deleted, GOOD_PROTO) == [
        "field customer_note = 6 of payments.v1.RefundIssued was deleted since v1 "
        "without reserving its number 6 and name 'customer_note'"
    ]
    # a range covers the number (protoc's descriptor end is exclusive: `5 to 7` holds 7)
    ranged = proto_refund(note_field="", reserved='reserved 5 to 7; reserved "customer_note";')
    assert _proto_violations("EV305", ranged, GOOD_PROTO) == []
    # enum values too: LATE = 2 deleted, only its name reserved
    no_late = GOOD_PROTO.replace("    LATE = 2;\n", '    reserved "LATE";\n')
    assert _proto_violations("EV305", no_late, GOOD_PROTO) == [
        "value LATE = 2 of payments.v1.RefundIssued.Reason was deleted since v1 "
        "without reserving its number 2"
    ]
    # a field renamed in place keeps its number: nothing was deleted
    renamed = GOOD_PROTO.replace("customer_note = 6", "note_for_customer = 6")
    assert _proto_violations("EV305", renamed, GOOD_PROTO) == []


def test_the_common_rules_read_protobuf_through_its_walker() -> None:
    assert _proto_violations("EV101", proto_refund(message="refund_issued")) == [
        "record name 'refund_issued' is not PascalCase"
    ]
    assert _proto_violations("EV103", proto_refund(reason_zero="reason_unspecified = 0;")) == [
        "enum 'Reason' symbols not UPPER_SNAKE_CASE: reason_unspecified"
    ]
    floaty = proto_refund(note_field="double refund_amount = 6;")
    assert _proto_violations("EV401", floaty) == [
        "field 'refund_amount' looks like money but is floating point; use integer minor units or a decimal"
    ]
    assert _proto_violations("EV201", GOOD_PROTO) == []  # the comment above the message documents it
    assert _proto_violations("EV202", GOOD_PROTO) == []  # trailing comments document the fields
    assert _proto_violations("EV202", GOOD_PROTO.replace("  // the refund", "")) == [
        "field 'refund_id' has no documentation"
    ]
    # .proto enums grow through their zero value (EV304), not a catch-all symbol (EV301)
    assert _proto_violations("EV301", GOOD_PROTO) == []
    assert _proto_violations("EV102", proto_refund(note_field="string customerNote = 6;")) == []  # EV104's


def test_protobuf_walker_reads_descriptors_and_comments() -> None:
    text = (
        'syntax = "proto3";\npackage shop.v1;\nimport "google/protobuf/timestamp.proto";\n'
        "message OrderPlaced {\n"
        "  google.protobuf.Timestamp placed_at = 1;\n"
        "  map<string, int64> totals = 2;\n"
        "  repeated double weights = 3;\n"
        "  Line line = 4;\n"
        "  message Line { string sku = 1; }\n"
        "  reserved 9, 11 to 12;\n"
        "}\n"
        "enum Channel { CHANNEL_UNSPECIFIED = 0; WEB = 5; reserved 2 to 3; }\n"
    )
    view = view_of(_file(PROTOBUF, 1, text))
    by_path = {f.path: f for f in view.fields}
    assert set(by_path) == {"placed_at", "totals", "weights", "line", "Line.sku"}
    assert by_path["placed_at"].logical == "timestamp-nanos"
    assert by_path["totals"].kind is Kind.MAP
    assert by_path["weights"].kind is Kind.FLOAT  # a repeated field has its element's kind
    assert by_path["line"].kind is Kind.RECORD
    assert by_path["Line.sku"].pointer == "/shop.v1.OrderPlaced.Line/1"
    assert all(f.optional for f in view.fields)  # proto3: any field may be absent
    assert [r.name for r in view.records] == ["OrderPlaced", "Line"]
    (channel,) = view.enums
    assert (channel.symbols, channel.numbers) == (("CHANNEL_UNSPECIFIED", "WEB"), (0, 5))
    numbered = {n.name: n for n in view.numbered}
    order = numbered["shop.v1.OrderPlaced"]
    assert [n for n in range(8, 14) if order.reserves(n)] == [9, 11, 12]
    assert [n for n in range(0, 5) if numbered["shop.v1.Channel"].reserves(n)] == [2, 3]
    assert _file(PROTOBUF, 1, text).line_of(channel.pointer) == 12
