"""The finding-code catalogue (evtool.compat.codes): every code an engine can emit is declared.

Two ways, since neither alone sees every code: the engines' source (every kebab-case literal and
every f-string family, read with `ast`), and what the engines really emit on every conformance case
(check, strict warnings and `schema diff`, both ways)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import invoke

from evtool.catalog import load_catalog
from evtool.catalog.model import SchemaFormat
from evtool.compat import codes as catalogue
from evtool.compat.codes import CODES, Effect, finding_code

ROOT = Path(__file__).resolve().parents[2]
ENGINES = [
    ROOT / "src/evtool/formats/jsonschema/diff.py",
    ROOT / "src/evtool/formats/jsonschema/compat.py",
    ROOT / "src/evtool/formats/avro/compat.py",
    ROOT / "src/evtool/formats/protobuf/compat.py",
    ROOT / "src/evtool/compat/check.py",
]
CODE = re.compile(r"^[a-z]+(-[a-z]+)+$")
# kebab-case literals in the engines that are not codes: hint names and family bases (below)
PROTOBUF_FORMAT = SchemaFormat.PROTOBUF
HINTS = {"idx-any", "idx-w", "pattern-any", "prop-any"}


def _calls(tree: ast.AST, names: set[str]) -> list[ast.Call]:
    return [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute | ast.Name)
        and (n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id) in names
    ]


def _families() -> tuple[set[str], set[str]]:
    """The codes the f-string families of the JSON Schema and Protobuf engines make, and their bases."""
    made: set[str] = set()
    bases: set[str] = set()
    jtree = ast.parse(ENGINES[0].read_text())
    for call in _calls(jtree, {"_bound"}):
        base = call.args[2]
        assert isinstance(base, ast.Constant)
        bases.add(base.value)
        made |= {f"{base.value}-{word}" for word in ("added", "removed", "increased", "decreased")}
    for call in _calls(jtree, {"_sub_keyword"}):
        base = call.args[2]
        assert isinstance(base, ast.Constant)
        bases.add(base.value)
        made |= {f"{base.value}-{word}" for word in ("added", "removed", "narrowed")}
    for base in ("items", "additional-items"):  # the tuple family (`_tail`)
        bases.add(base)
        made |= {f"{base}-{word}" for word in ("removed", "narrowed", "extended")}
    made |= {"additional-items-added", "enum-added", "const-added"}  # f"{base}-added", f"{key}-added"
    ptree = ast.parse(ENGINES[3].read_text())
    for call in _calls(ptree, {"add"}):  # a Protobuf difference with a loss reason has a lossy- twin
        if len(call.args) == 3 and isinstance(call.args[0], ast.Constant):
            made.add(f"lossy-{call.args[0].value}")
    return made, bases


def test_every_literal_and_family_an_engine_can_emit_is_declared() -> None:
    made, bases = _families()
    literals: set[str] = set()
    for engine in ENGINES:
        for node in ast.walk(ast.parse(engine.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
                literals.add(node.value)
    codes = (literals - HINTS - bases) | made
    assert len(codes) > 150
    assert sorted(codes - set(CODES)) == []
    # and nothing declared that no engine makes (a stale entry documents a code nobody sees)
    assert sorted(set(CODES) - codes) == []


def _pairs(tmp_path: Path) -> list[tuple[Any, Any]]:
    """Every conformance case's old and new version, parsed by its format through the catalogue."""
    fixtures = ROOT / "fixtures/conformance"
    cases: list[tuple[str, str, str]] = []
    for line in (fixtures / "compat-cases.jsonl").read_text().splitlines():
        if line.strip():
            case = json.loads(line)
            suffix = ".avsc" if case["format"] == "avro" else ".json"
            cases.append((suffix, json.dumps(case["old"]), json.dumps(case["new"])))
    for line in (fixtures / "protobuf-cases.jsonl").read_text().splitlines():
        if line.strip():
            case = json.loads(line)
            cases.append((".proto", case["old"], case["new"]))
    for index, (suffix, old, new) in enumerate(cases):
        subject = tmp_path / f"case.n{index}"
        subject.mkdir()
        (subject / f"1{suffix}").write_text(old)
        (subject / f"2{suffix}").write_text(new)
    catalog = load_catalog(tmp_path)
    assert len(catalog.subjects) == len(cases) > 150
    return [(s.version(1), s.version(2)) for s in catalog.subjects.values()]


def test_every_code_the_conformance_cases_make_is_declared(tmp_path: Path) -> None:
    seen: dict[str, set[str]] = {}
    for old, new in _pairs(tmp_path):
        handler, a, b = old.handler, old.parsed(), new.parsed()
        for reader, writer in ((b, a), (a, b)):
            for issue in [*handler.incompatibilities(reader, writer), *handler.warnings(reader, writer)]:
                seen.setdefault(issue.code, set()).add(old.format.value)
                assert finding_code(issue.code).effect is not Effect.COMPATIBLE, issue.code
        for change in handler.changes(a, b):
            seen.setdefault(change.code, set()).add(old.format.value)
            if finding_code(change.code).effect is Effect.COMPATIBLE:  # found with the new one reading
                assert not change.breaks_backward, change
    assert len(seen) > 60
    assert sorted(set(seen) - set(CODES)) == []
    for code, formats in seen.items():  # each code is declared for the formats that emit it
        assert formats <= {f.value for f in CODES[code].formats}, code


def test_every_entry_is_documented() -> None:
    for entry in CODES.values():
        assert entry.summary, entry.code
        assert entry.why.endswith("."), entry.code
        assert entry.fix, entry.code
        assert not entry.summary.endswith("."), entry.code
        assert entry.formats, entry.code


def test_a_code_declared_twice_is_refused() -> None:
    with pytest.raises(RuntimeError, match="declared twice"):
        catalogue._declare("type-changed", catalogue.J, Effect.BREAKS, "x", "y.")


def test_an_undeclared_code_still_gets_help() -> None:
    entry = finding_code("something-new")
    assert entry.summary == "Something new"
    assert entry.effect is Effect.BREAKS


def test_list_codes_prints_every_code_with_its_effect_and_help() -> None:
    text = invoke(["schema", "check", "--list-codes"])
    assert text.code == 0, text.all_output
    for entry in CODES.values():
        assert f"{entry.code} {entry.effect.value}" in text.stdout, entry.code
    assert "Fix: give the field a default." in text.stdout
    as_json = invoke(["schema", "check", "--list-codes", "--format", "json"])
    listed = json.loads(as_json.stdout)
    assert [e["code"] for e in listed] == sorted(CODES)
    missing = next(e for e in listed if e["code"] == "reader-field-missing-default")
    assert missing == {"code": "reader-field-missing-default", "effect": "breaks", "formats": ["avro"],
                       "summary": "A field was added without a default",
                       "why": CODES["reader-field-missing-default"].why, "fix": "give the field a default"}


def test_the_json_report_and_sarif_draw_each_codes_help_from_the_catalogue(tmp_path: Path) -> None:
    from evtool.compat import ci_output
    from evtool.compat.check import check_catalog
    from evtool.config import Settings
    from evtool.modes import CompatibilityMode

    subject = tmp_path / "shop.order.placed"
    subject.mkdir()
    record = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
    (subject / "1.avsc").write_text(json.dumps(record))
    record["fields"].append({"name": "total", "type": "long"})  # no default: breaks BACKWARD
    (subject / "2.avsc").write_text(json.dumps(record))
    report = check_catalog(load_catalog(tmp_path), Settings(schema_dir=tmp_path),
                           mode=CompatibilityMode.BACKWARD)
    document = json.loads(ci_output.to_json(report))
    assert [f["code"] for f in document["findings"]] == ["reader-field-missing-default"]
    assert document["codes"]["reader-field-missing-default"]["fix"] == "give the field a default"
    assert document["codes"]["reader-field-missing-default"]["effect"] == "breaks"
    sarif = json.loads(ci_output.to_sarif(report, tool_version="1"))
    rule = sarif["runs"][0]["tool"]["driver"]["rules"][0]
    why = CODES["reader-field-missing-default"].why
    assert rule["help"]["text"] == f"{why} Fix: give the field a default."
    assert rule["properties"] == {"effect": "breaks", "formats": ["avro"]}
    assert rule["defaultConfiguration"]["level"] == "error"


def test_each_codes_effect_is_what_its_engine_does_with_it() -> None:
    from evtool.formats.protobuf.compat import FAILING

    proto_breaks = {c for c, e in CODES.items() if PROTOBUF_FORMAT in e.formats and e.effect is Effect.BREAKS}
    assert proto_breaks == FAILING
    # JSON Schema: a literal code passed as breaking (`_r`, `_req`, `_add(..., True)`) is BREAKS,
    # one passed as compatible (`_ok`, `_add(..., False)`) is COMPATIBLE
    breaking: set[str] = set()
    compatible: set[str] = set()
    for call in _calls(ast.parse(ENGINES[0].read_text()), {"_r", "_req", "_ok", "_add"}):
        code = call.args[1]
        if not isinstance(code, ast.Constant):
            continue
        name = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        flag = call.args[2] if name == "_add" else None
        breaks = name in ("_r", "_req") or (isinstance(flag, ast.Constant) and flag.value is True)
        (breaking if breaks else compatible).add(code.value)
    assert len(breaking) > 25
    assert len(compatible) > 25
    assert sorted(c for c in breaking if CODES[c].effect is not Effect.BREAKS) == []
    both = breaking & compatible  # compatible only when no old name can match
    assert both == {"pattern-property-added"}
    shared = {c for c in compatible if len(CODES[c].formats) > 1}  # e.g. enum-removed, also Protobuf's
    assert sorted(c for c in compatible - both - shared if CODES[c].effect is not Effect.COMPATIBLE) == []
    assert all(CODES[c].effect in (Effect.COMPATIBLE, Effect.DIFF) for c in shared)
