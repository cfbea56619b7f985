"""A finding's proof fails for the finding's own reason, and a doc-only edit fails nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema as reference
import pytest
from tests.support.cli import invoke

from evtool.catalog.model import SchemaFormat
from evtool.formats import format_named
from evtool.formats.avro import compat as avro_compat
from evtool.formats.avro import model as avro_model
from evtool.formats.findings import Incompatibility
from evtool.formats.jsonschema import compat as jsonschema

DRAFT7 = "http://json-schema.org/draft-07/schema#"


def _json_findings(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Incompatibility]:
    writer = jsonschema.parse({"$schema": DRAFT7, **old}, source="old.json")
    reader = jsonschema.parse({"$schema": DRAFT7, **new}, source="new.json")
    return {f"{i.code} {i.pointer} {i.message}": i
            for i in jsonschema.incompatibilities(reader, writer)}


def _reader_errors(schema: dict[str, Any], event: Any) -> list[str]:
    return [e.message for e in reference.Draft7Validator({"$schema": DRAFT7, **schema}).iter_errors(event)]


TAGS = {"type": "array", "items": {"enum": ["a", "b", "c"]}}
OLD = {"type": "object", "properties": {"tags": TAGS, "priority": {"type": "string"},
                                        "owner": {"type": "string"}}}
NEW = {"type": "object", "required": ["priority", "owner"],
       "properties": {"tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                      "priority": {"type": "string"}, "owner": {"type": "string"}}}


def test_each_proof_quotes_its_own_change_when_a_version_makes_several() -> None:
    found = _json_findings(OLD, NEW)
    narrowed = next(i for k, i in found.items() if k.startswith("enum-array-narrowed "))
    assert narrowed.counterexample is not None
    event = narrowed.counterexample.event
    assert event["tags"] == ["c"]
    # the witness violates only the narrowed enum: the other new requirements are filled in
    assert _reader_errors(NEW, event) == ["'c' is not one of ['a', 'b']"]
    assert reference.Draft7Validator({"$schema": DRAFT7, **OLD}).is_valid(event)
    assert "'c' is not one of" in narrowed.counterexample.proof
    assert "required" not in narrowed.counterexample.proof
    # two properties required at once: each finding's witness lacks its own property only
    for name, other in (("priority", "owner"), ("owner", "priority")):
        required = [i for key, i in found.items() if key.startswith("required-attribute-added")
                    and i.message.startswith(name)]
        assert len(required) == 1
        example = required[0].counterexample
        assert example is not None
        assert f"'{name}' is a required property" in example.proof
        assert other in example.event
        assert name not in example.event
        assert _reader_errors(NEW, example.event) == [f"'{name}' is a required property"]


def test_a_witness_that_cannot_avoid_another_change_says_which_one() -> None:
    # the old schema is closed and lacks `priority`, the new one requires it: no event the old
    # schema accepts can satisfy the new requirement, so the enum's witness trips both
    old = {"type": "object", "additionalProperties": False, "properties": {"tags": TAGS}}
    new = {"type": "object", "required": ["priority"],
           "properties": {"tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                          "priority": {"type": "string"}}}
    found = _json_findings(old, new)
    narrowed = next(i for k, i in found.items() if k.startswith("enum-array-narrowed "))
    assert narrowed.counterexample is not None
    proof = narrowed.counterexample.proof
    assert proof.startswith("$.tags[0]: 'c' is not one of ['a', 'b']")
    assert "also rejected for another change" in proof
    assert "'priority' is a required" in proof
    assert "[required-" in proof  # the other change is named by its code


AVRO_OLD = {"type": "record", "name": "R", "fields": [
    {"name": "a", "type": "string"},
    {"name": "s", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}}]}
AVRO_NEW = {"type": "record", "name": "R", "fields": [
    {"name": "a", "type": "string"},
    {"name": "s", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
    {"name": "p", "type": "string"}, {"name": "q", "type": "int"}]}


def test_avro_proofs_never_quote_another_change() -> None:
    reader = avro_model.parse(AVRO_NEW, source="new.avsc")
    writer = avro_model.parse(AVRO_OLD, source="old.avsc")
    found = {i.pointer: i for i in avro_compat.incompatibilities(reader, writer)}
    enum = found["/fields/1/type/symbols"]
    assert enum.counterexample is not None
    assert "C not found" in enum.counterexample.proof
    p = found["/fields/2"]
    assert p.counterexample is not None
    assert "field p" in p.counterexample.proof
    q = found["/fields/3"]
    # fastavro stops at p for every datum: q's finding says so instead of quoting p as its proof
    assert q.counterexample is None
    assert q.no_counterexample_reason is not None
    assert "another change" in q.no_counterexample_reason
    assert "/fields/2" in q.no_counterexample_reason


@pytest.mark.parametrize(
    ("fmt", "old", "new", "expected"),
    [
        (SchemaFormat.JSON, {"type": "object", "description": "a", "properties": {"x": {"title": "X"}}},
         {"type": "object", "description": "b", "$comment": "c",
          "properties": {"x": {"title": "Y", "examples": [1]}}}, True),
        # a property *named* description is data, not documentation
        (SchemaFormat.JSON, {"properties": {"description": {"type": "string"}}},
         {"properties": {"description": {"type": "integer"}}}, False),
        (SchemaFormat.JSON, {"properties": {"title": {"type": "string"}}}, {"properties": {}}, False),
        (SchemaFormat.JSON, {"enum": ["a"], "description": "a"}, {"enum": ["b"], "description": "b"},
         False),
        (SchemaFormat.AVRO, {"type": "record", "name": "R", "doc": "a",
                             "fields": [{"name": "f", "type": "string", "doc": "x"}]},
         {"type": "record", "name": "R", "doc": "b",
          "fields": [{"name": "f", "type": "string", "doc": "y"}]}, True),
        (SchemaFormat.AVRO, {"type": "record", "name": "R", "fields": [{"name": "f", "type": "string"}]},
         {"type": "record", "name": "R", "fields": [{"name": "f", "type": "string", "default": "d"}]},
         False),
        (SchemaFormat.JSON, {"type": "string"}, {"type": "string"}, False),  # no change at all
    ],
)
def test_docs_only(fmt: SchemaFormat, old: Any, new: Any, expected: bool) -> None:
    assert format_named(fmt).docs_only(old, new) is expected


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def test_a_doc_only_edit_of_a_published_version_warns_and_passes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    schema = tmp_path / "schemas" / "s.x" / "1.json"
    schema.parent.mkdir(parents=True)
    (tmp_path / "evtool.toml").write_text('schema_dir = "schemas"\n')
    document = {"$schema": DRAFT7, "type": "object", "description": "old words",
                "properties": {"n": {"type": "integer"}}}
    schema.write_text(json.dumps(document, indent=1))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "v1")
    monkeypatch.chdir(tmp_path)
    schema.write_text(json.dumps({**document, "description": "new words"}, indent=1))
    outcome = invoke(["schema", "check", "--against", "HEAD"])
    assert outcome.code == 0, outcome.all_output
    assert "published-version-docs-edited" in outcome.stdout
    assert "incompatib" not in outcome.stdout
    assert "warning" in outcome.stdout
    junit = invoke(["schema", "check", "--against", "HEAD", "--format", "json"])
    assert json.loads(junit.stdout)["ok"] is True
    # a real edit of the same published version still fails
    schema.write_text(json.dumps({**document, "properties": {"n": {"type": "string"}}}, indent=1))
    outcome = invoke(["schema", "check", "--against", "HEAD"])
    assert outcome.code == 1
    assert "published-version-modified" in outcome.stdout
    assert "1 published version changed" in outcome.stdout
