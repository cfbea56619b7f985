"""Avro engine: one test group per resolution rule, counterexamples, validation, changes()."""

from __future__ import annotations

import io
import json
from typing import Any

import avro.schema as apache_schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from hypothesis import given, settings
from hypothesis import strategies as st

from evtool.errors import SchemaError
from evtool.formats.avro import compat as avro
from evtool.formats.findings import Incompatibility, Side

PRIMS = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
PROMOTES = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


def p(doc: Any) -> avro.AvroSchema:
    return avro.parse(doc, source="t.avsc")


def issues(reader: Any, writer: Any) -> list[Incompatibility]:
    return avro.incompatibilities(p(reader), p(writer))


def rec(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def fld(name: str, ftype: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": ftype, **extra}


def enum(name: str, *symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols), **extra}


def apache_ok(reader: Any, writer: Any) -> bool:
    r = apache_schema.parse(json.dumps(reader))
    w = apache_schema.parse(json.dumps(writer))
    res = ReaderWriterCompatibilityChecker().get_compatibility(r, w)  # type: ignore[no-untyped-call]
    return res.compatibility is SchemaCompatibilityType.compatible


def _as_bytes(node: Any, value: Any) -> Any:
    """Undo the event's latin-1 rendering of bytes, guided by the writer's parsed form."""
    kind = node.kind
    if kind in ("bytes", "fixed") and isinstance(value, str):
        return value.encode("latin-1")
    if kind == "record" and isinstance(value, dict):
        return {f.name: _as_bytes(f.type, value[f.name]) for f in node.fields}
    if kind == "array":
        return [_as_bytes(node.child, v) for v in value]
    if kind == "map":
        return {k: _as_bytes(node.child, v) for k, v in value.items()}
    if kind == "union" and isinstance(value, str) and "string" not in [b.kind for b in node.branches]:
        for branch in node.branches:
            if branch.kind in ("bytes", "fixed"):
                return _as_bytes(branch, value)
    if kind == "union" and isinstance(value, dict):
        records = [b for b in node.branches if b.kind in ("record", "map")]
        return _as_bytes(records[0], value) if records else value
    return value


def assert_proved(reader: Any, writer: Any, found: Incompatibility) -> None:
    """The counterexample is writer-valid and really fails to decode with the reader."""
    assert found.counterexample is not None, found.no_counterexample_reason
    w = fastavro.parse_schema(writer)
    r = fastavro.parse_schema(reader)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, w, _as_bytes(p(writer).root, found.counterexample.event))
    buf.seek(0)
    assert fastavro.schemaless_reader(buf, w, w) is not None or writer == "null"
    buf.seek(0)
    with pytest.raises(Exception, match=r".") as exc:
        fastavro.schemaless_reader(buf, w, r)
    assert "\n" not in found.counterexample.proof
    assert found.counterexample.proof.split()[0] in str(exc.value)


# --------------------------------------------------------------------------- primitives


@pytest.mark.parametrize("writer", PRIMS)
@pytest.mark.parametrize("reader", PRIMS)
def test_primitive_promotions(reader: str, writer: str) -> None:
    expected = reader == writer or (writer, reader) in PROMOTES
    found = issues(reader, writer)
    assert (not found) == expected
    if found:
        assert [f.code for f in found] == ["type-mismatch"]
        assert found[0].pointer == ""
        assert found[0].side is Side.READER
        assert_proved(reader, writer, found[0])


# --------------------------------------------------------------------------- records

ORDER = rec(
    "Order",
    fld("id", "string"),
    fld("lines", {"type": "array", "items": rec("Line", fld("sku", "string"), fld("qty", "int"))}),
    namespace="com.acme",
)


def test_reader_field_without_default_missing_in_writer() -> None:
    reader = rec("R", fld("a", "int"), fld("b", "string"))
    writer = rec("R", fld("a", "int"))
    [found] = issues(reader, writer)
    assert found.code == "reader-field-missing-default"
    assert found.pointer == "/fields/1"
    assert "`b`" in found.message
    assert_proved(reader, writer, found)
    assert issues(writer, reader) == []  # the writer's extra field is skipped


def test_reader_field_with_default_is_fine() -> None:
    reader = rec("R", fld("a", "int"), fld("b", ["null", "string"], default=None))
    assert issues(reader, rec("R", fld("a", "int"))) == []


def test_enum_default_on_type_is_not_a_field_default() -> None:
    reader = rec("R", fld("a", "int"), fld("e", enum("E", "X", "Y", default="X")))
    [found] = issues(reader, rec("R", fld("a", "int")))
    assert found.code == "reader-field-missing-default"
    assert not apache_ok(reader, rec("R", fld("a", "int")))


def test_nested_field_path_and_pointer() -> None:
    new = json.loads(json.dumps(ORDER))
    new["fields"][1]["type"]["items"]["fields"].append(fld("unit", "long"))
    [found] = issues(new, ORDER)
    assert found.pointer == "/fields/1/type/items/fields/2"
    assert "field `lines[].unit`" in found.message
    assert_proved(new, ORDER, found)


def test_type_change_inside_array_points_at_the_field_type() -> None:
    new = json.loads(json.dumps(ORDER))
    new["fields"][1]["type"]["items"]["fields"][1]["type"] = "string"
    [found] = issues(new, ORDER)
    assert found.code == "type-mismatch"
    assert found.pointer == "/fields/1/type/items/fields/1/type"
    assert "`lines[].qty`" in found.message
    assert_proved(new, ORDER, found)


def test_all_incompatibilities_are_collected() -> None:
    reader = rec("R", fld("a", "string"), fld("b", "int"), fld("c", {"type": "map", "values": "int"}))
    writer = rec("R", fld("a", "int"), fld("c", {"type": "map", "values": "long"}))
    found = issues(reader, writer)
    assert sorted((f.code, f.pointer) for f in found) == [
        ("reader-field-missing-default", "/fields/1"),
        ("type-mismatch", "/fields/0/type"),
        ("type-mismatch", "/fields/2/type/values"),
    ]
    for f in found:
        assert f.counterexample is not None


def test_field_alias_reads_renamed_writer_field() -> None:
    writer = rec("R", fld("total", "long"))
    reader = rec("R", fld("grandTotal", "long", aliases=["total"]))
    assert issues(reader, writer) == []
    assert [f.code for f in issues(writer, reader)] == ["reader-field-missing-default"]


# --------------------------------------------------------------------------- names


def test_record_name_mismatch() -> None:
    reader = rec("B", fld("x", "int"), namespace="n")
    writer = rec("A", fld("x", "int"), namespace="n")
    [found] = issues(reader, writer)
    assert found.code == "name-mismatch"
    assert found.pointer == "/name"
    assert_proved(reader, writer, found)


def test_names_compare_unqualified() -> None:
    assert (
        issues(rec("A", fld("x", "int"), namespace="one"), rec("A", fld("x", "int"), namespace="two")) == []
    )


@pytest.mark.parametrize(
    ("alias", "ok"),
    [("n.A", True), ("A", True), ("other.A", False), ("B", False)],
)
def test_reader_aliases_are_qualified_with_its_namespace(alias: str, ok: bool) -> None:
    reader = rec("B", fld("x", "int"), namespace="n", aliases=[alias])
    writer = rec("A", fld("x", "int"), namespace="n")
    assert (not issues(reader, writer)) == ok


def test_enum_and_fixed_names_are_checked() -> None:
    assert [f.code for f in issues(enum("F", "A"), enum("E", "A"))] == ["name-mismatch"]
    fixed_a = {"type": "fixed", "name": "A", "size": 4}
    assert [f.code for f in issues({**fixed_a, "name": "B"}, fixed_a)] == ["name-mismatch"]


# --------------------------------------------------------------------------- enum, fixed


def test_missing_enum_symbol() -> None:
    writer = rec("R", fld("c", enum("C", "EMAIL", "FAX")))
    reader = rec("R", fld("c", enum("C", "EMAIL")))
    [found] = issues(reader, writer)
    assert found.code == "missing-enum-symbol"
    assert found.pointer == "/fields/0/type/symbols"
    assert "FAX" in found.message
    assert found.counterexample is not None
    assert found.counterexample.event == {"c": "FAX"}
    assert_proved(reader, writer, found)


def test_reader_enum_default_covers_unknown_symbols() -> None:
    writer = enum("C", "EMAIL", "FAX")
    assert issues(enum("C", "EMAIL", default="EMAIL"), writer) == []


def test_fixed_size_mismatch() -> None:
    reader = {"type": "fixed", "name": "Md5", "size": 32}
    writer = {"type": "fixed", "name": "Md5", "size": 16}
    [found] = issues(reader, writer)
    assert (found.code, found.pointer) == ("fixed-size-mismatch", "/size")
    assert_proved(reader, writer, found)


# --------------------------------------------------------------------------- unions


def test_writer_union_branch_the_reader_lacks() -> None:
    writer = rec("R", fld("v", ["null", "string", "long"], default=None))
    reader = rec("R", fld("v", ["null", "string"], default=None))
    [found] = issues(reader, writer)
    assert found.code == "missing-union-branch"
    assert found.pointer == "/fields/0/type"
    assert found.counterexample is not None
    assert found.counterexample.event == {"v": 0}
    assert_proved(reader, writer, found)


def test_reader_union_accepts_promoted_writer_type() -> None:
    assert issues(["null", "double"], "int") == []
    assert issues(["null", "string"], "int")[0].code == "missing-union-branch"


def test_union_to_non_union() -> None:
    [found] = issues("string", ["null", "string"])
    assert found.code == "type-mismatch"
    assert found.counterexample is not None
    assert found.counterexample.event is None
    assert issues(["null", "string"], "string") == []


def test_union_branch_record_changed_reports_the_nested_reason() -> None:
    cust = rec("Customer", fld("id", "string"))
    cust2 = rec("Customer", fld("id", "string"), fld("locale", "string"))
    writer = rec("R", fld("c", ["null", cust], default=None))
    reader = rec("R", fld("c", ["null", cust2], default=None))
    [found] = issues(reader, writer)
    assert found.code == "reader-field-missing-default"
    assert found.pointer == "/fields/0/type/1/fields/1"
    assert "`c.locale`" in found.message
    assert found.counterexample is not None
    assert found.counterexample.event == {"c": {"id": ""}}
    assert_proved(reader, writer, found)


def test_union_reordered_is_compatible() -> None:
    assert issues(["null", "long", "string"], ["null", "string", "long"]) == []


# --------------------------------------------------------------------------- named references, recursion

NOTE = rec(
    "Note",
    fld("text", "string"),
    fld("replies", {"type": "array", "items": "Note"}),
    namespace="c",
)


def test_recursive_schema_terminates_both_ways() -> None:
    assert issues(NOTE, NOTE) == []
    grown = rec(
        "Note",
        fld("text", "string"),
        fld("replies", {"type": "array", "items": "Note"}),
        fld("author", "string"),
        namespace="c",
    )
    [found] = issues(grown, NOTE)
    assert found.code == "reader-field-missing-default"
    assert issues(NOTE, grown) == []
    assert_proved(grown, NOTE, found)


def test_mutual_recursion_with_nested_incompatibility() -> None:
    def tree(leaf_type: str) -> dict[str, Any]:
        return rec(
            "Node",
            fld("value", leaf_type),
            fld("children", {"type": "array", "items": rec("Edge", fld("to", "Node"), fld("w", leaf_type))}),
        )

    found = issues(tree("int"), tree("long"))
    assert sorted(f.pointer for f in found) == ["/fields/0/type", "/fields/1/type/items/fields/1/type"]
    assert issues(tree("long"), tree("int")) == []
    for f in found:
        assert_proved(tree("int"), tree("long"), f)


def test_shared_named_type_reported_once_at_its_definition() -> None:
    addr = rec("Addr", fld("zip", "int"))
    writer = rec("R", fld("home", addr), fld("work", "Addr"))
    reader = rec("R", fld("home", rec("Addr", fld("zip", "string"))), fld("work", "Addr"))
    [found] = issues(reader, writer)
    assert found.pointer == "/fields/0/type/fields/0/type"


def test_logical_types_are_ignored() -> None:
    assert issues({"type": "long", "logicalType": "timestamp-millis"}, "long") == []
    dec = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}
    assert issues({**dec, "precision": 14}, dec) == []


def test_uninhabited_writer_gets_a_reason_not_a_counterexample() -> None:
    loop = rec("Loop", fld("next", "Loop"))
    reader = rec("Loop", fld("next", "Loop"), fld("x", "int"))
    [found] = issues(reader, loop)
    assert found.counterexample is None
    assert found.no_counterexample_reason
    assert "contains itself" in found.no_counterexample_reason


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("doc", "pointer", "fragment"),
    [
        ("nope", "", "unknown type"),
        ({"type": "record", "name": "R"}, "", "fields"),
        (rec("R", fld("a", "Missing")), "/fields/0/type", "unknown type 'Missing'"),
        (rec("R", fld("a", "int"), fld("a", "long")), "/fields/1/name", "twice"),
        (rec("R", fld("a", "int", default="x")), "/fields/0/default", "not an int"),
        (rec("R", fld("a", ["null", "string"], default="x")), "/fields/0/default", "not null"),
        (rec("R", fld("a", "int", default=2**31)), "/fields/0/default", "not an int"),
        (rec("R", fld("e", enum("E", "A", "A"))), "/fields/0/type/symbols/1", "twice"),
        (enum("E", "A", default="B"), "/default", "not one of its symbols"),
        (enum("E", "1A"), "/symbols/0", "not a valid"),
        ({"type": "fixed", "name": "F", "size": -1}, "/size", "size"),
        ({"type": "fixed", "name": "F"}, "/size", "size"),
        (["null", "null"], "/1", "twice"),
        (["null", ["int"]], "/1", "another union"),
        ({"type": "array"}, "", "items"),
        ({"type": "map", "values": "Nope"}, "/values", "unknown type"),
        (
            rec("R", fld("a", enum("E", "A")), fld("b", enum("E", "B"))),
            "/fields/1/type/name",
            "defined twice",
        ),
        (rec("bad-name", fld("a", "int")), "/name", "not a valid"),
        ({"type": "string", "logicalType": "timestamp-millis"}, "/logicalType", "long"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 5}, "", "scale"),
        ({"type": "bytes", "logicalType": "decimal"}, "", "precision"),
        (rec("R", fld("a", "int"), fld("b", "int", aliases=["a"])), "/fields/1", "both answer"),
        (rec("R", fld("a", "int", order="up")), "/fields/0/order", "order"),
        ({"type": {"type": "string"}}, "/type", "type name string"),
        (42, "", "a schema must be"),
    ],
)
def test_invalid_schema_raises_with_pointer(doc: Any, pointer: str, fragment: str) -> None:
    with pytest.raises(SchemaError) as exc:
        avro.parse(doc, source="schemas/x/1.avsc")
    err = exc.value
    assert err.pointer == pointer
    assert fragment in err.message
    assert err.message.startswith("schemas/x/1.avsc: ")
    assert "\n" not in err.message
    assert err.hint


def test_valid_schema_keeps_document_and_custom_logical_types() -> None:
    doc = rec("R", fld("a", {"type": "string", "logicalType": "my-thing"}), fld("d", "double", default=1))
    parsed = p(doc)
    assert parsed.document is doc
    assert parsed.fastavro_schema() is parsed.fastavro_schema()  # parsed once


def test_forward_reference_to_later_definition_is_rejected() -> None:
    doc = rec("R", fld("a", "Later"), fld("b", rec("Later", fld("x", "int"))))
    with pytest.raises(SchemaError, match="unknown type"):
        p(doc)


# --------------------------------------------------------------------------- changes()


def changes(old: Any, new: Any) -> dict[str, tuple[bool, bool]]:
    return {c.code: (c.breaks_backward, c.breaks_forward) for c in avro.changes(p(old), p(new))}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            rec("R", fld("a", "int")),
            rec("R", fld("a", "int"), fld("b", "int")),
            {"field-added": (True, False)},
        ),
        (
            rec("R", fld("a", "int")),
            rec("R", fld("a", "int"), fld("b", "int", default=0)),
            {"field-added": (False, False)},
        ),
        (
            rec("R", fld("a", "int"), fld("b", "int")),
            rec("R", fld("a", "int")),
            {"field-removed": (False, True)},
        ),
        (rec("R", fld("a", "int")), rec("R", fld("a", "long")), {"type-changed": (False, True)}),
        (rec("R", fld("a", "string")), rec("R", fld("a", "bytes")), {"type-changed": (False, False)}),
        (enum("E", "A"), enum("E", "A", "B"), {"enum-symbol-added": (False, True)}),
        (enum("E", "A", "B"), enum("E", "A"), {"enum-symbol-removed": (True, False)}),
        (
            enum("E", "A", "B", default="A"),
            enum("E", "A", default="A"),
            {"enum-symbol-removed": (False, False)},
        ),
        (["null", "string"], ["null", "string", "long"], {"union-branch-added": (False, True)}),
        (["null", "string"], ["null", "long", "string"], {"union-branch-added": (False, True)}),
        (["null", "string"], "string", {"union-branch-removed": (True, False)}),
        (
            ["null", "long"],
            ["null", "int"],
            {"union-branch-added": (False, False), "union-branch-removed": (True, False)},
        ),
        (
            {"type": "fixed", "name": "F", "size": 1},
            {"type": "fixed", "name": "F", "size": 2},
            {"fixed-size-changed": (True, True)},
        ),
        (
            rec("A", fld("x", "int"), namespace="n"),
            rec("B", fld("x", "int"), namespace="n", aliases=["A"]),
            {"name-changed": (False, True), "aliases-changed": (False, False)},
        ),
        (
            rec("R", fld("total", "long")),
            rec("R", fld("sum", "long", aliases=["total"])),
            {"field-renamed": (False, True), "field-aliases-changed": (False, False)},
        ),
        (
            rec("R", fld("a", "int", default=0)),
            rec("R", fld("a", "int", default=5)),
            {"field-default-changed": (False, False)},
        ),
        (
            "long",
            {"type": "long", "logicalType": "timestamp-millis"},
            {"logical-type-changed": (False, False)},
        ),
        (NOTE, NOTE, {}),
    ],
)
def test_changes_are_classified(old: Any, new: Any, expected: dict[str, tuple[bool, bool]]) -> None:
    assert changes(old, new) == expected


def test_change_sides_point_into_the_right_document() -> None:
    old = rec("R", fld("a", "int"), fld("gone", "int"))
    new = rec("R", fld("a", "int"), fld("new1", "int", default=1), fld("new2", "int", default=2))
    by_code = {(c.code, c.pointer, c.side) for c in avro.changes(p(old), p(new))}
    assert by_code == {
        ("field-removed", "/fields/1", Side.WRITER),
        ("field-added", "/fields/1", Side.READER),
        ("field-added", "/fields/2", Side.READER),
    }


def test_change_flags_agree_with_the_checker_for_single_changes() -> None:
    pairs = [
        (rec("R", fld("a", "int")), rec("R", fld("a", "int"), fld("b", "int"))),
        (enum("E", "A"), enum("E", "A", "B")),
        (["null", "string"], "string"),
    ]
    for old, new in pairs:
        [change] = avro.changes(p(old), p(new))
        assert change.breaks_backward == bool(issues(new, old))
        assert change.breaks_forward == bool(issues(old, new))


# --------------------------------------------------------------------------- oracle cross-check

_FIELD_TYPES = st.sampled_from(
    [
        "int",
        "long",
        "float",
        "double",
        "string",
        "bytes",
        "boolean",
        ["null", "string"],
        ["null", "long"],
        ["null", "int", "string"],
        {"type": "array", "items": "int"},
        {"type": "array", "items": "long"},
        {"type": "map", "values": "string"},
        {"type": "map", "values": "bytes"},
        {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]},
        {"type": "enum", "name": "Color", "symbols": ["RED"]},
        {"type": "enum", "name": "Color", "symbols": ["RED"], "default": "RED"},
        {"type": "fixed", "name": "Hash", "size": 4},
        {"type": "fixed", "name": "Hash", "size": 8},
        {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "int"}]},
        {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "long"}]},
        {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "int"}]},
    ]
)
_DEFAULTS = {"int": 0, "long": 0, "string": "", "boolean": False, "double": 0.0}


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
    fields = []
    for name in names:
        ftype = draw(_FIELD_TYPES)
        f: dict[str, Any] = {"name": name, "type": ftype}
        if isinstance(ftype, list) and ftype[0] == "null" and draw(st.booleans()):
            f["default"] = None
        elif isinstance(ftype, str) and ftype in _DEFAULTS and draw(st.booleans()):
            f["default"] = _DEFAULTS[ftype]
        fields.append(f)
    return {"type": "record", "name": "Top", "namespace": "x", "fields": fields}


def _uses_named_twice(doc: dict[str, Any]) -> bool:
    seen = [f["type"]["name"] for f in doc["fields"] if isinstance(f["type"], dict) and "name" in f["type"]]
    return len(seen) != len(set(seen))


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reader and a writer that share most fields, so the rare rules get exercised too."""
    reader = draw(_records())
    writer = json.loads(json.dumps(reader))
    for f in writer["fields"]:
        if draw(st.booleans()):
            f["type"] = draw(_FIELD_TYPES)
            f.pop("default", None)
    extra = draw(_records())
    known = {f["name"] for f in writer["fields"]}
    writer["fields"] += [f for f in extra["fields"] if f["name"] not in known and draw(st.booleans())]
    return reader, writer


@settings(max_examples=400, deadline=None)
@given(_pairs())
def test_verdicts_equal_apache_checker(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    for reader, writer in (pair, pair[::-1]):
        if _uses_named_twice(reader) or _uses_named_twice(writer):
            return  # a name may be defined once per schema
        ours = issues(reader, writer)
        assert (not ours) == apache_ok(reader, writer)
        for found in ours:
            assert found.counterexample is not None or found.no_counterexample_reason
            if found.counterexample is not None:
                assert_proved(reader, writer, found)


def test_memoised_failure_is_remembered_after_a_union_probe_swallowed_it() -> None:
    inner_w = rec("Inner", fld("x", "int"))
    inner_r = rec("Inner", fld("x", "string"))
    alt = rec("Alt", fld("x", "long"), aliases=["Inner"])
    writer = rec("W", fld("a", inner_w), fld("b", "Inner"))
    reader = rec("W", fld("a", [inner_r, alt]), fld("b", ["null", "Inner"]))
    found = issues(reader, writer)
    assert [(f.code, f.pointer) for f in found] == [("type-mismatch", "/fields/0/type/0/fields/0/type")]
    assert "`b.x`" in found[0].message
    assert not apache_ok(reader, writer)


def test_is_compatible_agrees_with_incompatibilities() -> None:
    new = rec("R", fld("a", "long"), fld("b", "int", default=0))
    old = rec("R", fld("a", "int"))
    assert avro.is_compatible(p(new), p(old))
    assert not avro.is_compatible(p(old), p(new))
    assert not avro.is_compatible(p(rec("R", fld("a", "long"), fld("b", "int"))), p(old))
    [change] = avro.changes(p(rec("A", fld("x", "int"))), p(rec("A", fld("x", "int"), aliases=["Z"])))
    assert (change.code, change.pointer) == ("aliases-changed", "/aliases")


def test_each_place_is_reported_even_when_types_repeat() -> None:
    old = rec("R", fld("a", "int"), fld("b", "int"), fld("c", {"type": "array", "items": "int"}))
    new = rec("R", fld("a", "string"), fld("b", "string"), fld("c", {"type": "array", "items": "string"}))
    found = issues(new, old)
    assert [f.pointer for f in found] == ["/fields/0/type", "/fields/1/type", "/fields/2/type/items"]
    assert [c.pointer for c in avro.changes(p(old), p(new))] == [
        "/fields/0/type",
        "/fields/1/type",
        "/fields/2/type/items",
    ]


def test_decimal_scale_change_is_accepted_with_a_proven_rescale_warning() -> None:
    """Java Avro and the registry accept it; 123.45 written at scale 2 reads as 1.2345 at scale 4."""

    def refund(scale: int) -> Any:
        return avro.parse({"type": "record", "name": "Refund", "fields": [
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                        "precision": 9, "scale": scale}}]}, source="r.avsc")

    old, new = refund(2), refund(4)
    assert avro.incompatibilities(new, old) == []
    warnings = avro.lossy_changes(new, old)
    assert [w.code for w in warnings] == ["lossy-decimal-rescaled"]
    example = warnings[0].counterexample
    assert example is not None
    assert example.event == "123.45"
    assert "reads 1.2345" in example.proof
    assert avro.lossy_changes(old, old) == []
