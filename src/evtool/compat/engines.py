"""The two format engines behind one interface, and each schema parsed once.

A transitive check compares each version with every earlier one, so a catalogue of ten
versions a subject would parse each schema up to eighteen times; `ParsedCatalog` parses on
first use and keeps the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from evtool.catalog.model import SchemaFile, SchemaFormat
from evtool.compat.findings import Change, Incompatibility
from evtool.errors import SchemaError
from evtool.formats.avro import compat as avro
from evtool.formats.jsonschema import compat as jsonschema


@dataclass(frozen=True, slots=True)
class EngineFunctions:
    """The module-level functions each format engine provides."""

    parse: Callable[..., Any]
    incompatibilities: Callable[[Any, Any], list[Incompatibility]]
    changes: Callable[[Any, Any], list[Change]]


_ENGINES: dict[SchemaFormat, EngineFunctions] = {
    SchemaFormat.AVRO: EngineFunctions(avro.parse, avro.incompatibilities, avro.changes),
    SchemaFormat.JSON: EngineFunctions(
        jsonschema.parse, jsonschema.incompatibilities, jsonschema.changes
    ),
}


def engine_for(fmt: SchemaFormat) -> EngineFunctions:
    return _ENGINES[fmt]


def parse_schema(schema: SchemaFile) -> Any:
    """Parse with the format's engine; a bad schema's error gains the file's line number."""
    source = str(schema.path)
    try:
        return engine_for(schema.format).parse(schema.document, source=source)
    except SchemaError as exc:
        if exc.pointer is None:
            raise
        line = schema.line_of(exc.pointer)
        prefix = f"{source}: "
        message = exc.message
        if line is not None and message.startswith(prefix):
            message = f"{source}:{line}: {message[len(prefix):]}"
        raise SchemaError(message, hint=exc.hint, pointer=exc.pointer) from None


@contextmanager
def too_deep_names(*schemas: SchemaFile) -> Iterator[None]:
    """Name the files when an engine runs out of stack despite the catalogue's depth limit
    (a $ref web can be deep without deep text): bad input, exit 2, never "incompatible"."""
    try:
        yield
    except RecursionError:
        names = " and ".join(dict.fromkeys(str(s.path) for s in schemas))
        raise SchemaError(
            f"{names}: nested too deep to check",
            hint="flatten the schema: fewer levels of nested types or $ref chains",
        ) from None


@dataclass(slots=True)
class ParsedCatalog:
    """Parsed schemas keyed by the identity of their SchemaFile."""

    _parsed: dict[int, Any] = field(default_factory=dict)

    def get(self, schema: SchemaFile) -> Any:
        key = id(schema)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self._parsed[key] = parse_schema(schema)
        return parsed
