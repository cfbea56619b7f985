"""The format seam: formats found by suffix and by name, and the catalogue using only them."""

from __future__ import annotations

from pathlib import Path

import pytest

from evtool.catalog import load_catalog
from evtool.compat.check import check_catalog
from evtool.config import Settings, SubjectSettings
from evtool.errors import SchemaError
from evtool.formats import all_formats, format_named, format_of


def test_suffixes_pick_the_format_longest_first() -> None:
    found = format_of("3.schema.json")
    assert found is not None
    assert found[0] == "3"
    assert found[1].name == "json"
    avro = format_of("1.avsc")
    assert avro is not None
    assert avro[1].label == "Avro"
    assert format_of("README.md") is None


def test_every_registered_format_is_found_by_its_name_and_suffixes() -> None:
    for fmt in all_formats():
        assert format_named(fmt.name) is fmt
        for suffix in fmt.suffixes:
            found = format_of(f"7{suffix}")
            assert found is not None
            assert found[1] is fmt


def test_unknown_format_name_is_bad_input() -> None:
    with pytest.raises(SchemaError, match="unknown schema format 'yaml'"):
        format_named("yaml")


def test_declared_subject_format_is_read_and_held_to(tmp_path: Path) -> None:
    """SubjectSettings.format used to be validated and never read: a subject declared Avro whose
    files are JSON Schema passed silently."""
    (tmp_path / "a.b").mkdir()
    (tmp_path / "a.b" / "1.json").write_text('{"type": "object"}')
    catalog = load_catalog(tmp_path)
    declared = Settings(schema_dir=tmp_path, subjects={"a.b": SubjectSettings(format="avro")})
    with pytest.raises(SchemaError, match=r"a\.b/1\.json: subject 'a\.b' is declared format = 'avro'"):
        check_catalog(catalog, declared)
    agreed = Settings(schema_dir=tmp_path, subjects={"a.b": SubjectSettings(format="json")})
    assert check_catalog(catalog, agreed).ok
