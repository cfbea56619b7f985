"""Rule-by-rule tests of the JSON Schema compatibility engine.

Every counterexample is re-checked here with python-jsonschema directly: the writer
schema must accept it and the reader schema must reject it.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema as js_lib
import pytest

from evtool.errors import SchemaError
from evtool.formats.findings import Incompatibility, Side
from evtool.formats.jsonschema import compat as engine

D7 = "http://json-schema.org/draft-07/schema#"
D2020 = "https://json-schema.org/draft/2020-12/schema"


def obj(props: dict[str, Any], required: list[str] | None = None, closed: Any = None,
        **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"$schema": D7, "type": "object", "properties": props}
    if required:
        doc["required"] = required
    if closed is not None:
        doc["additionalProperties"] = closed
    doc.update(extra)
    return doc


def incompat(reader: Any, writer: Any) -> list[Incompatibility]:
    """Incompatibilities, with every counterexample proven independently."""
    found = engine.incompatibilities(engine.parse(reader, source="reader.json"),
                                     engine.parse(writer, source="writer.json"))
    wv = js_lib.validators.validator_for(writer, default=js_lib.Draft7Validator)(writer)
    rv = js_lib.validators.validator_for(reader, default=js_lib.Draft7Validator)(reader)
    for inc in found:
        if inc.counterexample is not None:
            assert wv.is_valid(inc.counterexample.event), inc
            assert not rv.is_valid(inc.counterexample.event), inc
            assert inc.counterexample.proof.startswith("$")
            assert "\n" not in inc.counterexample.proof
        else:
            assert inc.no_counterexample_reason
    return found


def codes(found: list[Incompatibility]) -> list[str]:
    return [i.code for i in found]


def only(found: list[Incompatibility], code: str) -> Incompatibility:
    assert codes(found) == [code], [(i.code, i.message) for i in found]
    return found[0]


def proven(inc: Incompatibility) -> Any:
    assert inc.counterexample is not None, inc.no_counterexample_reason
    return inc.counterexample.event


# -- content models ------------------------------------------------------------------------


def test_property_added_to_open_model_breaks_backward_with_typed_counterexample() -> None:
    old = obj({"a": {"type": "string"}})
    new = obj({"a": {"type": "string"}, "b": {"type": "string"}})
    inc = only(incompat(new, old), "property-added-to-open-content-model")
    assert (inc.pointer, inc.side) == ("/properties/b", Side.READER)
    assert not isinstance(proven(inc)["b"], str)
    assert incompat(old, new) == []


def test_empty_schema_property_added_to_open_model_is_compatible() -> None:
    old = obj({"a": {"type": "string"}})
    assert incompat(obj({"a": {"type": "string"}, "b": {}}), old) == []


def test_property_removed_from_closed_model_breaks_with_the_property_in_the_event() -> None:
    old = obj({"a": {"type": "string"}, "b": {"type": "integer"}}, closed=False)
    new = obj({"a": {"type": "string"}}, closed=False)
    inc = only(incompat(new, old), "property-removed-from-closed-content-model")
    assert (inc.pointer, inc.side) == ("/properties/b", Side.WRITER)
    assert "b" in proven(inc)
    assert incompat(old, new) == []  # optional property added to a closed model


def test_false_property_removed_from_closed_model_is_compatible() -> None:
    old = obj({"a": {"type": "string"}, "legacy": False}, closed=False)
    new = obj({"a": {"type": "string"}}, closed=False)
    assert incompat(new, old) == []
    assert incompat(old, new) == []


def test_partially_open_model_covers_or_rejects_a_removed_property() -> None:
    old = obj({"a": {"type": "string"}, "b": {"type": "string"}}, closed={"type": "string"})
    covered = obj({"a": {"type": "string"}}, closed={"type": "string"})
    assert incompat(covered, old) == []
    not_covered = obj({"a": {"type": "string"}}, closed={"type": "integer"})
    found = incompat(not_covered, old)
    assert "property-removed-not-covered-by-partially-open-content-model" in codes(found)


def test_pattern_properties_cover_an_added_property() -> None:
    old = obj({"a": {"type": "string"}}, closed=False, patternProperties={"^x_": {"type": "string"}})
    new = copy.deepcopy(old)
    new["properties"]["x_note"] = {"type": "string"}
    assert incompat(new, old) == []
    narrower = copy.deepcopy(old)
    narrower["properties"]["x_note"] = {"type": "string", "maxLength": 2}
    found = incompat(narrower, old)
    assert "property-added-not-covered-by-partially-open-content-model" in codes(found)


def test_closing_and_narrowing_additional_properties() -> None:
    open_ = obj({"a": {"type": "string"}})
    closed = obj({"a": {"type": "string"}}, closed=False)
    typed = obj({"a": {"type": "string"}}, closed={"type": "integer"})
    inc = only(incompat(closed, open_), "additional-properties-removed")
    assert list(proven(inc)) == ["unexpectedProperty"]  # a property the model does not list
    only(incompat(typed, open_), "additional-properties-narrowed")
    assert incompat(open_, closed) == []
    assert incompat(open_, typed) == []


# -- required ------------------------------------------------------------------------------


def test_required_added_breaks_unless_it_has_a_default() -> None:
    old = obj({"a": {"type": "string"}, "b": {"type": "string"}}, ["a"])
    new = obj({"a": {"type": "string"}, "b": {"type": "string"}}, ["a", "b"])
    inc = only(incompat(new, old), "required-attribute-added")
    assert "b" not in proven(inc)
    with_default = obj({"a": {"type": "string"}, "b": {"type": "string", "default": "x"}},
                       ["a", "b"])
    assert incompat(with_default, old) == []
    assert incompat(old, new) == []


def test_required_property_added_to_closed_model() -> None:
    old = obj({"a": {"type": "string"}}, ["a"], closed=False)
    new = obj({"a": {"type": "string"}, "b": {"type": "string"}}, ["a", "b"], closed=False)
    only(incompat(new, old), "required-property-added-to-unopen-content-model")


# -- types, enums, const ---------------------------------------------------------------------


@pytest.mark.parametrize(("old_t", "new_t", "ok"), [
    ("integer", "number", True),
    ("number", "integer", False),
    ("string", ["string", "null"], True),
    (["string", "null"], "string", False),
    ("string", "integer", False),
])
def test_type_widening_and_narrowing(old_t: Any, new_t: Any, ok: bool) -> None:
    old = obj({"v": {"type": old_t}}, ["v"], closed=False)
    new = obj({"v": {"type": new_t}}, ["v"], closed=False)
    found = incompat(new, old)
    assert (found == []) is ok
    if not ok:
        assert found[0].code in ("type-narrowed", "type-changed")
        assert found[0].pointer == "/properties/v/type"
        proven(found[0])


def test_number_to_integer_counterexample_is_a_fraction() -> None:
    old = obj({"q": {"type": "number", "minimum": 1}}, ["q"])
    new = obj({"q": {"type": "integer", "minimum": 1}}, ["q"])
    event = proven(only(incompat(new, old), "type-narrowed"))
    assert not float(event["q"]).is_integer()


def test_enum_narrowed_extended_added_and_const_changed() -> None:
    old = obj({"c": {"type": "string", "enum": ["EUR", "USD"]}}, ["c"])
    narrowed = obj({"c": {"type": "string", "enum": ["EUR"]}}, ["c"])
    assert proven(only(incompat(narrowed, old), "enum-array-narrowed"))["c"] == "USD"
    assert incompat(old, narrowed) == []
    free = obj({"c": {"type": "string"}}, ["c"])
    only(incompat(old, free), "enum-added")
    assert incompat(free, old) == []
    k1 = obj({"k": {"const": "card"}}, ["k"])
    k2 = obj({"k": {"const": "credit_card"}}, ["k"])
    assert proven(only(incompat(k2, k1), "const-changed"))["k"] == "card"


# -- strings and numbers -------------------------------------------------------------------


def test_string_length_bounds() -> None:
    old = obj({"s": {"type": "string", "minLength": 2, "maxLength": 10}}, ["s"])
    shorter = obj({"s": {"type": "string", "minLength": 2, "maxLength": 5}}, ["s"])
    longer_min = obj({"s": {"type": "string", "minLength": 4, "maxLength": 10}}, ["s"])
    assert len(proven(only(incompat(shorter, old), "max-length-decreased"))["s"]) > 5
    assert len(proven(only(incompat(longer_min, old), "min-length-increased"))["s"]) < 4
    assert incompat(old, shorter) == []
    assert incompat(old, longer_min) == []


def test_pattern_changes() -> None:
    loose = obj({"id": {"type": "string", "pattern": "^ORD-[0-9]+$"}}, ["id"])
    tight = obj({"id": {"type": "string", "pattern": "^ORD-[0-9]{8}$"}}, ["id"])
    inc = only(incompat(tight, loose), "pattern-changed")
    assert proven(inc)["id"].startswith("ORD-")
    # Confluent breaks on any pattern change, even a loosening: no event can show it.
    inc = only(incompat(loose, tight), "pattern-changed")
    assert inc.counterexample is None
    assert "no string found that matches the old pattern" in (inc.no_counterexample_reason or "")
    free = obj({"id": {"type": "string"}}, ["id"])
    only(incompat(tight, free), "pattern-added")
    assert incompat(free, tight) == []


@pytest.mark.parametrize(("old_kw", "new_kw", "code"), [
    ({"maximum": 100}, {"maximum": 50}, "maximum-decreased"),
    ({}, {"maximum": 50}, "maximum-added"),
    ({"minimum": 0}, {"minimum": 5}, "minimum-increased"),
    ({"exclusiveMinimum": 0}, {"exclusiveMinimum": 10}, "exclusive-minimum-increased"),
    ({"exclusiveMaximum": 100}, {"exclusiveMaximum": 10}, "exclusive-maximum-decreased"),
    ({"multipleOf": 2}, {"multipleOf": 4}, "multiple-of-expanded"),
    ({"multipleOf": 2}, {"multipleOf": 3}, "multiple-of-changed"),
    ({}, {"multipleOf": 5}, "multiple-of-added"),
])
def test_number_bounds(old_kw: dict[str, Any], new_kw: dict[str, Any], code: str) -> None:
    old = obj({"n": {"type": "integer", **old_kw}}, ["n"])
    new = obj({"n": {"type": "integer", **new_kw}}, ["n"])
    inc = only(incompat(new, old), code)
    proven(inc)
    assert inc.pointer.startswith("/properties/n/")


def test_loosened_number_bounds_are_compatible() -> None:
    old = obj({"n": {"type": "integer", "minimum": 5, "maximum": 10, "multipleOf": 4}}, ["n"])
    new = obj({"n": {"type": "integer", "minimum": 0, "multipleOf": 2}}, ["n"])
    assert incompat(new, old) == []


def test_draft4_boolean_exclusive_maximum() -> None:
    old = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number",
           "maximum": 10}
    new = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number",
           "maximum": 10, "exclusiveMaximum": True}
    assert codes(incompat(new, old)) == ["exclusive-maximum-added"]


# -- arrays --------------------------------------------------------------------------------


def test_array_rules() -> None:
    old = obj({"xs": {"type": "array", "items": {"type": "integer"}, "maxItems": 5}}, ["xs"])
    narrowed = obj({"xs": {"type": "array", "items": {"type": "integer", "minimum": 0},
                           "maxItems": 5}}, ["xs"])
    inc = only(incompat(narrowed, old), "minimum-added")
    assert inc.pointer == "/properties/xs/items/minimum"
    assert proven(inc)["xs"][0] < 0
    fewer = obj({"xs": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}}, ["xs"])
    assert len(proven(only(incompat(fewer, old), "max-items-decreased"))["xs"]) == 3
    more = obj({"xs": {"type": "array", "items": {"type": "integer"}, "maxItems": 5,
                       "minItems": 2}}, ["xs"])
    only(incompat(more, old), "min-items-added")
    unique = obj({"xs": {"type": "array", "items": {"type": "integer"}, "maxItems": 5,
                         "uniqueItems": True}}, ["xs"])
    event = proven(only(incompat(unique, old), "unique-items-added"))
    assert len(event["xs"]) == 2
    assert event["xs"][0] == event["xs"][1]
    assert incompat(old, unique) == []


def test_prefix_items_2020_closed_tuple() -> None:
    def geo(n: int) -> dict[str, Any]:
        return {"$schema": D2020, "type": "array",
                "prefixItems": [{"type": "number"}] * n, "items": False}
    inc = only(incompat(geo(2), geo(3)), "item-removed-from-closed-content-model")
    assert len(proven(inc)) == 3
    assert incompat(geo(3), geo(2)) == []  # item added to a closed tuple


def test_open_tuple_item_added_breaks() -> None:
    old = {"$schema": D7, "type": "array", "items": [{"type": "number"}]}
    new = {"$schema": D7, "type": "array", "items": [{"type": "number"}, {"type": "string"}]}
    inc = only(incompat(new, old), "item-added-to-open-content-model")
    assert not isinstance(proven(inc)[1], str)


# -- object bounds and dependencies ----------------------------------------------------------


def test_max_properties_and_dependencies() -> None:
    old = obj({"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}})
    fewer = dict(old, maxProperties=1)
    assert len(proven(only(incompat(fewer, old), "max-properties-added"))) == 2
    deps = dict(old, dependentRequired={"a": ["b"]})
    deps["$schema"] = D2020
    event = proven(only(incompat(deps, {**old, "$schema": D2020}), "dependency-array-added"))
    assert "a" in event
    assert "b" not in event


# -- combinators ---------------------------------------------------------------------------

CARD = {"type": "object", "properties": {"kind": {"const": "card"}, "last4": {"type": "string"}},
        "required": ["kind", "last4"], "additionalProperties": False}
BANK = {"type": "object", "properties": {"kind": {"const": "bank"}, "iban": {"type": "string"}},
        "required": ["kind", "iban"], "additionalProperties": False}


def test_one_of_branch_removed_is_sum_type_narrowed() -> None:
    old = {"$schema": D7, "oneOf": [CARD, BANK]}
    new = {"$schema": D7, "oneOf": [CARD]}
    found = incompat(new, old)
    assert "sum-type-narrowed" in codes(found)
    events = [i.counterexample.event for i in found if i.counterexample]
    assert {"kind": "bank", "iban": "x"} in events
    assert incompat(old, new) == []  # a branch added


def test_one_of_reordered_and_any_of_widening() -> None:
    old = {"$schema": D7, "oneOf": [CARD, BANK]}
    assert incompat({"$schema": D7, "oneOf": [BANK, CARD]}, old) == []
    assert incompat({"$schema": D7, "anyOf": [CARD, BANK]}, old) == []
    only(incompat(old, {"$schema": D7, "anyOf": [CARD, BANK]}), "combined-type-changed")


def test_single_type_to_union_is_sum_type_extended() -> None:
    old = {"$schema": D7, "type": "string"}
    new = {"$schema": D7, "anyOf": [{"type": "string"}, {"type": "null"}]}
    assert incompat(new, old) == []
    assert codes(incompat(old, new)) == ["type-changed"]


def test_all_of_gains_a_constraint() -> None:
    base = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    old = {"$schema": D7, "allOf": [base]}
    new = {"$schema": D7, "allOf": [base, {"required": ["trace"]}]}
    event = proven(only(incompat(new, old), "product-type-extended"))
    assert "trace" not in event
    assert incompat(old, new) == []


def test_not_extended_and_narrowed() -> None:
    old = {"$schema": D7, "type": "string", "not": {"enum": ["a"]}}
    wider_not = {"$schema": D7, "type": "string", "not": {"enum": ["a", "b"]}}
    inc = only(incompat(wider_not, old), "not-type-extended")
    assert proven(inc) == "b"
    assert incompat(old, wider_not) == []


# -- references ----------------------------------------------------------------------------

TREE = {
    "$schema": D7, "$ref": "#/definitions/Node",
    "definitions": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"},
        "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
        "parent": {"$ref": "#/definitions/Node"}},
        "required": ["name"], "additionalProperties": False}},
}


@pytest.mark.timeout(10)
def test_recursive_ref_terminates_both_ways() -> None:
    changed = copy.deepcopy(TREE)
    changed["definitions"]["Node"]["properties"]["name"]["maxLength"] = 3
    assert incompat(TREE, copy.deepcopy(TREE)) == []
    inc = only(incompat(changed, TREE), "max-length-added")
    assert inc.pointer == "/definitions/Node/properties/name/maxLength"
    assert incompat(TREE, changed) == []
    root_ref = {"$schema": D7, "type": "object",
                "properties": {"next": {"$ref": "#"}, "v": {"type": "integer"}}}
    narrower = copy.deepcopy(root_ref)
    narrower["properties"]["v"]["minimum"] = 0
    assert proven(only(incompat(narrower, root_ref), "minimum-added"))["v"] < 0


def test_ref_into_defs_with_escaped_pointer() -> None:
    doc = {"$schema": D2020, "type": "object",
           "properties": {"m": {"$ref": "#/$defs/a~1b"}},
           "$defs": {"a/b": {"type": "integer"}}}
    other = copy.deepcopy(doc)
    other["$defs"]["a/b"]["type"] = "string"
    only(incompat(other, doc), "type-changed")


def test_remote_ref_is_a_schema_error_with_pointer() -> None:
    doc = obj({"x": {"$ref": "http://example.com/x.json"}})
    with pytest.raises(SchemaError) as err:
        engine.parse(doc, source="s.json")
    assert err.value.pointer == "/properties/x/$ref"
    assert "remote $ref 'http://example.com/x.json' at /properties/x" in err.value.message
    assert err.value.message.startswith("s.json: ")
    assert "$defs" in (err.value.hint or "")


def test_unresolvable_local_ref_is_a_schema_error_with_pointer() -> None:
    doc = obj({"x": {"$ref": "#/definitions/Missing"}})
    with pytest.raises(SchemaError) as err:
        engine.parse(doc, source="s.json")
    assert err.value.pointer == "/properties/x/$ref"


def test_metaschema_violation_is_a_schema_error() -> None:
    with pytest.raises(SchemaError) as err:
        engine.parse(obj({"x": {"type": "strin"}}), source="bad.json")
    assert err.value.pointer == "/properties/x/type"
    assert err.value.message.startswith("bad.json: ")
    with pytest.raises(SchemaError):
        engine.parse({"$schema": "http://example.com/my-draft"}, source="bad.json")
    with pytest.raises(SchemaError) as err:
        engine.parse(obj({"x": {"type": "string", "pattern": "(unclosed"}}), source="b.json")
    assert err.value.pointer == "/properties/x/pattern"


def test_identical_documents_and_cached_validators() -> None:
    doc = engine.parse(TREE, source="t.json")
    assert engine.incompatibilities(doc, doc) == []
    assert doc.validator is doc.validator
    assert doc.document is TREE


# -- changes -------------------------------------------------------------------------------


def test_changes_classify_both_directions() -> None:
    old = obj({"a": {"type": "string", "maxLength": 5}, "b": {"type": "string"}}, ["a"],
              closed=False, description="v1")
    new = obj({"a": {"type": "string", "maxLength": 9}, "c": {"type": "integer"}}, ["a"],
              closed=False, description="v2")
    found = {c.code: c for c in engine.changes(engine.parse(old, source="o"),
                                               engine.parse(new, source="n"))}
    grew = found["max-length-increased"]
    assert (grew.breaks_backward, grew.breaks_forward) == (False, True)
    assert (grew.pointer, grew.side) == ("/properties/a/maxLength", Side.READER)
    removed = found["property-removed-from-closed-content-model"]
    assert (removed.breaks_backward, removed.breaks_forward) == (True, False)
    assert (removed.pointer, removed.side) == ("/properties/b", Side.WRITER)
    added = found["optional-property-added-to-unopen-content-model"]
    assert (added.breaks_backward, added.breaks_forward) == (False, True)
    assert (added.pointer, added.side) == ("/properties/c", Side.READER)
    desc = found["description-changed"]
    assert (desc.breaks_backward, desc.breaks_forward) == (False, False)
    assert engine.changes(engine.parse(old, source="o"), engine.parse(old, source="o")) == []
