"""Shared fixtures: the bundled catalogue and strict validators that do not share our code."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
from jsonschema.validators import validator_for

from evtool.catalog import Catalog, SchemaFile, SchemaFormat, load_catalog
from evtool.catalog.bundled import bundled_schema_dir


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(bundled_schema_dir())


@pytest.fixture(scope="session")
def reference_check() -> Callable[[SchemaFile], Callable[[Any], None]]:
    return _reference_check


@pytest.fixture
def write_schema(tmp_path: Path) -> Callable[[str, int, str, str], Path]:
    """Write `schemas/<subject>/<version><suffix>` under tmp_path; returns the schemas folder."""

    def write(subject: str, version: int, text: str, suffix: str) -> Path:
        return _write_schema(tmp_path, subject, version, text, suffix)

    return write


def _reference_check(schema: SchemaFile) -> Callable[[Any], None]:
    """Raise on invalid data: Python jsonschema with formats, or a fastavro encode-decode round trip."""
    if schema.format is SchemaFormat.AVRO:
        return avro_round_trip(schema.document)
    cls = validator_for(schema.document)
    validator = cls(schema.document, format_checker=cls.FORMAT_CHECKER)
    return validator.validate


def avro_round_trip(document: Any) -> Callable[[Any], None]:
    parsed = fastavro.parse_schema(document)

    def check(data: Any) -> None:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, data)
        buffer.seek(0)
        back = fastavro.schemaless_reader(buffer, parsed, None)
        assert isinstance(back, dict)
        missing = set(data) ^ {f["name"] for f in document["fields"]}
        assert not missing, f"fields differ from the schema: {missing}"

    return check


def _write_schema(tmp_path: Path, subject: str, version: int, text: str, suffix: str) -> Path:
    folder = tmp_path / "schemas" / subject
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}{suffix}"
    path.write_text(text, encoding="utf-8")
    return tmp_path / "schemas"
