"""JSON Schema 2020-12 keywords in the open/closed/partially-open decisions, and combined schemas
judged from the old schema's combinator (the three gaps measured against Confluent's fixtures)."""

from __future__ import annotations

from typing import Any

import pytest

from evtool.formats.jsonschema import compat as engine

S = "https://json-schema.org/draft/2020-12/schema"


def breaks(old: Any, new: Any) -> list[str]:
    """Codes of what fails BACKWARD: the new schema reading data written with the old one."""
    found = engine.incompatibilities(engine.parse({"$schema": S, **new}, source="new.json"),
                                     engine.parse({"$schema": S, **old}, source="old.json"))
    return [i.code for i in found]


def refund(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, **extra}


ID = {"refund_id": {"type": "string"}}
NOTE = {"note": {"type": "string"}}


def test_property_added_under_unevaluated_false_is_compatible() -> None:
    """Was a false alarm: the model is closed, so no old event carries `note`."""
    old = refund(ID, unevaluatedProperties=False)
    new = refund({**ID, **NOTE}, unevaluatedProperties=False)
    assert breaks(old, new) == []


def test_property_removed_under_unevaluated_false_breaks() -> None:
    """Was missed: old events carry `note`, which the closed new model rejects."""
    old = refund({**ID, **NOTE}, unevaluatedProperties=False)
    new = refund(ID, unevaluatedProperties=False)
    assert breaks(old, new) == ["property-removed-from-closed-content-model"]


def test_property_removed_under_partially_open_unevaluated() -> None:
    old = refund({**ID, **NOTE}, unevaluatedProperties={"type": "integer"})
    new = refund(ID, unevaluatedProperties={"type": "integer"})
    assert "property-removed-not-covered-by-partially-open-content-model" in breaks(old, new)
    loose = refund({**ID, **NOTE}, unevaluatedProperties={"type": "string"})
    assert breaks(loose, refund(ID, unevaluatedProperties={"type": "string"})) == []


def test_adding_unevaluated_items_false_breaks() -> None:
    old = {"type": "array", "prefixItems": [{"type": "string"}]}
    new = {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": False}
    assert breaks(old, new) != []
    assert breaks(new, old) == []


def test_retyping_unevaluated_items_breaks() -> None:
    old = {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "string"}}
    new = {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "integer"}}
    assert breaks(old, new) != []


def test_tuple_item_removed_not_covered_by_unevaluated_items() -> None:
    old = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
           "unevaluatedItems": False}
    new = {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "string"}}
    assert "item-removed-not-covered-by-partially-open-content-model" in breaks(old, new)
    covered = {"type": "array", "prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "integer"}}
    assert breaks(old, covered) == []


@pytest.mark.parametrize("kind", ["anyOf", "oneOf"])
def test_all_of_to_single_branch_is_judged_from_the_old_combinator(kind: str) -> None:
    """allOf[number, string] -> anyOf/oneOf[string]: Confluent says compatible (every old event
    matched both, so it matches the one left); evtool used to report lost branches."""
    old = {"allOf": [{"type": "number"}, {"type": "string"}]}
    new = {kind: [{"type": "string"}]}
    assert breaks(old, new) == []


def test_any_of_losing_a_branch_still_breaks() -> None:
    old = {"anyOf": [{"type": "number"}, {"type": "string"}]}
    assert breaks(old, {"anyOf": [{"type": "string"}]}) == ["sum-type-narrowed"]
