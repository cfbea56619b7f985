"""Schema formats, one package each, found by file suffix or by name.

Each package (`avro`, `jsonschema`, `protobuf`) exposes `FORMAT`, an object implementing
`evtool.formats.base.Format`. Packages are imported on first use, so a command that never
meets a .proto file never loads protoc.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from evtool.errors import SchemaError

if TYPE_CHECKING:
    from evtool.formats.base import Format

PACKAGES = ("evtool.formats.avro", "evtool.formats.jsonschema", "evtool.formats.protobuf")


@functools.cache
def all_formats() -> tuple[Format, ...]:
    return tuple(importlib.import_module(name).FORMAT for name in PACKAGES)


@functools.cache
def _by_suffix() -> tuple[tuple[str, Format], ...]:
    pairs = [(suffix, fmt) for fmt in all_formats() for suffix in fmt.suffixes]
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))  # `.schema.json` before `.json`


def format_of(file_name: str) -> tuple[str, Format] | None:
    """(stem, format) of a schema file name, or None for a file that is not a schema."""
    for suffix, fmt in _by_suffix():
        if file_name.endswith(suffix):
            return file_name[: -len(suffix)], fmt
    return None


def format_named(name: str) -> Format:
    for fmt in all_formats():
        if fmt.name == name:
            return fmt
    known = ", ".join(f.name for f in all_formats())
    raise SchemaError(f"unknown schema format {name!r}", hint=f"use one of: {known}")


def suffix_help() -> str:
    """`.avsc (Avro), .json / .schema.json (JSON Schema), ...` for layout hints."""
    return ", ".join(f"{' / '.join(f.suffixes)} ({f.label})" for f in all_formats())
