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
from evtool.lint.fields import WALKERS
from evtool.lint.model import LintTarget
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


@dataclass(frozen=True)
class Case:
    fmt: SchemaFormat
    good: dict[str, Any]
    bad: dict[str, Any]
    previous: dict[str, Any] | None = None
    settings: SubjectSettings | None = DECLARED
    bad_settings: SubjectSettings | None = None


def _bad(fmt_schema: dict[str, Any], mutate: Any) -> dict[str, Any]:
    copied = copy.deepcopy(fmt_schema)
    mutate(copied)
    return copied


AVRO, JSON = SchemaFormat.AVRO, SchemaFormat.JSON
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


def violations(
    rule: Rule,
    fmt: SchemaFormat,
    schema: dict[str, Any],
    previous: dict[str, Any] | None,
    settings: SubjectSettings | None,
) -> list[str]:
    text = json.dumps(schema, indent=2)
    current = SchemaFile("orders", 2 if previous else 1, fmt, Path("schemas/orders/x"), text, schema)
    before = (
        SchemaFile("orders", 1, fmt, Path("schemas/orders/1"), json.dumps(previous), previous)
        if previous
        else None
    )
    subject = Subject("orders", fmt, (before, current) if before else (current,))
    walker = WALKERS[fmt]
    target = LintTarget(
        subject, current, walker(schema), before, walker(previous) if previous else None, settings
    )
    return [v.message for v in rule.check(target)]


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
