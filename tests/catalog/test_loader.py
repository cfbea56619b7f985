from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from evtool.catalog import SchemaFormat, load_catalog, load_catalog_at_ref
from evtool.catalog.bundled import bundled_schema_dir
from evtool.errors import InputError, SchemaError
from evtool.formats.jsontext import MAX_DEPTH, parse_json_text


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_versions_are_ordered_numerically_and_formats_detected(tmp_path: Path) -> None:
    for version in (10, 2, 1):
        _write(tmp_path, f"a.b/{version}.json", '{"type": "object"}')
    _write(tmp_path, "c.d/1.avsc", '"string"')
    _write(tmp_path, "e.f/1.schema.json", "{}")
    catalog = load_catalog(tmp_path)
    assert [s.version for s in catalog.subject("a.b").versions] == [1, 2, 10]
    assert catalog.subject("c.d").format is SchemaFormat.AVRO
    assert catalog.subject("e.f").format is SchemaFormat.JSON


def test_invalid_json_names_file_line_and_column(tmp_path: Path) -> None:
    _write(tmp_path, "a.b/1.json", '{\n  "type": "object",\n  "x": ,\n}')
    with pytest.raises(SchemaError, match=r"a\.b/1\.json:3:8: invalid JSON"):
        load_catalog(tmp_path)


def test_version_file_not_named_by_an_integer(tmp_path: Path) -> None:
    _write(tmp_path, "a.b/v2.json", "{}")
    with pytest.raises(SchemaError, match="must be named by a positive integer"):
        load_catalog(tmp_path)


def test_mixed_formats_in_one_subject(tmp_path: Path) -> None:
    _write(tmp_path, "a.b/1.json", "{}")
    _write(tmp_path, "a.b/2.avsc", '"string"')
    with pytest.raises(SchemaError, match="mixes Avro with JSON Schema"):
        load_catalog(tmp_path)


def test_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="schema directory not found"):
        load_catalog(tmp_path / "nope")


def test_pointer_lines_point_at_the_field(tmp_path: Path) -> None:
    text = (
        '{\n  "type": "object",\n  "properties": {\n    "a/b": {"type": "string"},\n'
        '    "list": [\n      1,\n      {"x": 2}\n    ]\n  }\n}\n'
    )
    _write(tmp_path, "s/1.json", text)
    schema = load_catalog(tmp_path).subject("s").versions[0]
    assert schema.line_of("/properties/a~1b") == 4
    assert schema.line_of("/properties/list/1/x") == 7
    assert schema.line_of("/properties/gone") == 3  # nearest existing ancestor
    assert schema.line_of("") == 1


def test_catalogue_at_a_git_ref(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    _write(tmp_path, "schemas/a.b/1.json", '{"type": "string"}')
    git("add", ".")
    git("commit", "-qm", "one")
    _write(tmp_path, "schemas/a.b/1.json", '{"type": "integer"}')
    _write(tmp_path, "schemas/a.b/2.json", "{}")
    at_main = load_catalog_at_ref(tmp_path / "schemas", "main")
    assert [s.version for s in at_main.subject("a.b").versions] == [1]
    assert at_main.subject("a.b").versions[0].document == {"type": "string"}
    assert str(at_main.subject("a.b").versions[0].path) == "main:schemas/a.b/1.json"
    with pytest.raises(InputError, match="git ref 'nope' not found"):
        load_catalog_at_ref(tmp_path / "schemas", "nope")


def test_bundled_catalogue_has_the_three_starter_events() -> None:
    catalog = load_catalog(bundled_schema_dir())
    assert {"commerce.order.placed", "inventory.stock.low", "support.complaint.filed"} <= set(
        catalog.subjects
    )
    formats = {s.format for s in catalog.subjects.values()}
    assert formats == {SchemaFormat.AVRO, SchemaFormat.JSON, SchemaFormat.PROTOBUF}
    assert all(len(s.versions) >= 2 for s in catalog.subjects.values())


def _git_repo(root: Path) -> Callable[..., None]:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    return git


def test_layout_rule_is_the_same_at_a_git_ref(tmp_path: Path) -> None:
    git = _git_repo(tmp_path)
    _write(tmp_path, "schemas/a.b/1.json", '{"type": "string"}')
    _write(tmp_path, "schemas/a.b/README.md", "owner: x")
    (tmp_path / "schemas/a.b/bundle.tgz").write_bytes(b"\x1f\x8b\xff\xfe")
    _write(tmp_path, "schemas/docs/notes.txt", "not a subject")
    git("add", ".")
    git("commit", "-qm", "one")
    at_main = load_catalog_at_ref(tmp_path / "schemas", "main")
    assert list(at_main.subjects) == ["a.b"]
    assert [s.version for s in at_main.subject("a.b").versions] == [1]


def test_non_utf8_version_at_a_git_ref_is_named(tmp_path: Path) -> None:
    git = _git_repo(tmp_path)
    (tmp_path / "schemas/a.b").mkdir(parents=True)
    (tmp_path / "schemas/a.b/1.json").write_bytes(b'{\n  "title": "caf\xe9"\n}')
    git("add", ".")
    git("commit", "-qm", "one")
    # before, the bytes were replaced with U+FFFD and compared as if they were the schema
    expected = r"^main:schemas/a\.b/1\.json:2:16: not UTF-8 \(byte 0xe9 at offset 17\)"
    with pytest.raises(SchemaError, match=expected):
        load_catalog_at_ref(tmp_path / "schemas", "main")


def test_empty_ref_catalogue_is_allowed_but_an_empty_folder_is_not(tmp_path: Path) -> None:
    """Against a ref from before the first schema there is nothing published: that is fine."""
    git = _git_repo(tmp_path)
    _write(tmp_path, "README.md", "x")
    git("add", ".")
    git("commit", "-qm", "one")
    (tmp_path / "schemas").mkdir()
    assert load_catalog_at_ref(tmp_path / "schemas", "main").subjects == {}
    with pytest.raises(InputError, match="no subjects found under"):
        load_catalog(tmp_path / "schemas")


def test_hidden_entries_are_ignored(tmp_path: Path) -> None:
    _write(tmp_path, "a.b/1.json", "{}")
    _write(tmp_path, "a.b/.1.json.swp", "\xff garbage")
    _write(tmp_path, ".cache/1.json", "not json")
    assert list(load_catalog(tmp_path).subjects) == ["a.b"]


def test_duplicate_keys_are_found_past_escapes_and_strings() -> None:
    text = '{"a": "x\\"y", "b": {"c": 1}, "\\u0062": 2}'  # "\u0062" is "b" again
    with pytest.raises(SchemaError, match=r"^f\.json:1: duplicate key 'b'"):
        parse_json_text(text, source="f.json")
    assert parse_json_text('{"a": {"a": {"a": 1}}}', source="f.json") == {"a": {"a": {"a": 1}}}


def test_depth_limit_counts_objects_and_arrays() -> None:
    assert parse_json_text("[" * MAX_DEPTH + "]" * MAX_DEPTH, source="f")
    with pytest.raises(SchemaError, match="nested too deep"):
        parse_json_text("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), source="f")
    # many brackets, little depth: the quick count is not the verdict
    wide = "[" + ",".join(["[]"] * (MAX_DEPTH * 3)) + "]"
    assert len(parse_json_text(wide, source="f")) == MAX_DEPTH * 3
    # brackets inside strings are not nesting
    assert parse_json_text(json.dumps({"d": "[" * 1000}), source="f") == {"d": "[" * 1000}


def test_proto_catalogue_at_a_git_ref_resolves_imports_and_flags_a_changed_version(tmp_path: Path) -> None:
    """Imports resolve among the files at the ref (they are not on disk), and editing a published
    .proto version is a finding placed on the changed line."""
    from evtool.compat.check import VERSION_MODIFIED, check_catalog
    from evtool.config import Settings

    git = _git_repo(tmp_path)
    money = 'syntax = "proto3";\npackage m.v1;\nmessage Money {\n  int64 minor = 1;\n}\n'
    refund = ('syntax = "proto3";\npackage r.v1;\nimport "m.money/1.proto";\n'
              "message Refund {\n  string id = 1;\n  m.v1.Money amount = 2;\n}\n")
    _write(tmp_path, "schemas/m.money/1.proto", money)
    _write(tmp_path, "schemas/r.refund/1.proto", refund)
    git("add", ".")
    git("commit", "-qm", "v1")
    _write(tmp_path, "schemas/r.refund/1.proto", refund.replace("string id = 1;", "string refund_id = 1;"))
    base = load_catalog_at_ref(tmp_path / "schemas", "HEAD")
    assert base.subject("r.refund").latest.parsed() is not None  # the import resolved at the ref
    report = check_catalog(load_catalog(tmp_path / "schemas"), Settings(schema_dir=tmp_path), base=base)
    changed = [f for f in report.findings if f.code == VERSION_MODIFIED]
    assert len(changed) == 1
    assert changed[0].location.line == 5
