"""JSON Schema (`.json`, `.schema.json`, drafts 4 to 2020-12): Confluent's JSON Schema rules."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from evtool.formats import jsondoc
from evtool.formats.base import Check, DataGenerator, Encode, IsValid, Peers, SchemaFormat, narrow

if TYPE_CHECKING:
    from evtool.formats.base import SchemaFile
    from evtool.formats.findings import Change, Incompatibility
    from evtool.formats.jsonschema.compat import JsonSchemaDoc


@functools.cache
def _model_type() -> type[JsonSchemaDoc]:
    """Imported on first use (the format's heavy modules load only when needed), then kept:
    the check asks for it four times per pair."""
    from evtool.formats.jsonschema.compat import JsonSchemaDoc

    return JsonSchemaDoc


def _model(value: object) -> JsonSchemaDoc:
    return narrow(value, _model_type(), "json")


class JsonSchemaFormat:
    name = SchemaFormat.JSON.value
    label = "JSON Schema"
    suffixes = (".schema.json", ".json")

    def load(self, text: str, *, source: str) -> object:
        return jsondoc.load_json(text, source=source)

    def parse(self, schema: SchemaFile, peers: Peers) -> object:
        from evtool.formats.jsonschema.compat import parse

        return jsondoc.parse_located(parse, schema)

    def incompatibilities(self, reader: object, writer: object) -> list[Incompatibility]:
        from evtool.formats.jsonschema import compat

        return compat.incompatibilities(_model(reader), _model(writer))

    def warnings(self, reader: object, writer: object) -> list[Incompatibility]:
        return []

    def changes(self, old: object, new: object) -> list[Change]:
        from evtool.formats.jsonschema import compat

        return compat.changes(_model(old), _model(new))

    def locate(self, schema: SchemaFile, pointer: str) -> int | None:
        return jsondoc.locate(schema, pointer)

    def changed_at(self, old: SchemaFile, new: SchemaFile) -> str | None:
        return jsondoc.changed_at(old, new)

    def docs_only(self, old: object, new: object) -> bool:
        from evtool.formats.jsonschema.docs import docs_only

        return docs_only(old, new)

    def generator(self, schema: SchemaFile) -> DataGenerator:
        from evtool.formats.jsonschema.generate import compile_json_schema

        return compile_json_schema(schema.document, source=str(schema.path))

    def checks(self, schema: SchemaFile) -> tuple[IsValid, Check]:
        from evtool.formats.jsonschema.validate import json_checks

        return json_checks(schema.document)

    def encoder(self, schema: SchemaFile) -> Encode | None:
        return None


FORMAT = JsonSchemaFormat()
