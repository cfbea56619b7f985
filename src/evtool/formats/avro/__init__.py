"""Avro (`.avsc`): Java Avro's reader/writer resolution rules, as Schema Registry applies them."""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING

from evtool.formats import jsondoc
from evtool.formats.base import Check, DataGenerator, Encode, IsValid, Peers, SchemaFormat, narrow

if TYPE_CHECKING:
    from evtool.formats.avro.model import AvroSchema
    from evtool.formats.base import SchemaFile
    from evtool.formats.findings import Change, Incompatibility


@functools.cache
def _model_type() -> type[AvroSchema]:
    """Imported on first use (the format's heavy modules load only when needed), then kept:
    the check asks for it four times per pair."""
    from evtool.formats.avro.model import AvroSchema

    return AvroSchema


def _model(value: object) -> AvroSchema:
    return narrow(value, _model_type(), "avro")


class AvroFormat:
    name = SchemaFormat.AVRO.value
    label = "Avro"
    suffixes = (".avsc",)

    def load(self, text: str, *, source: str) -> object:
        return jsondoc.load_json(text, source=source)

    def parse(self, schema: SchemaFile, peers: Peers) -> object:
        from evtool.formats.avro.model import parse

        return jsondoc.parse_located(parse, schema)

    def incompatibilities(self, reader: object, writer: object) -> list[Incompatibility]:
        from evtool.formats.avro import compat

        return compat.incompatibilities(_model(reader), _model(writer))

    def warnings(self, reader: object, writer: object) -> list[Incompatibility]:
        from evtool.formats.avro import compat

        return compat.lossy_changes(_model(reader), _model(writer))

    def changes(self, old: object, new: object) -> list[Change]:
        from evtool.formats.avro import compat

        return compat.changes(_model(old), _model(new))

    def locate(self, schema: SchemaFile, pointer: str) -> int | None:
        return jsondoc.locate(schema, pointer)

    def changed_at(self, old: SchemaFile, new: SchemaFile) -> str | None:
        return jsondoc.changed_at(old, new)

    def docs_only(self, old: object, new: object) -> bool:
        from evtool.formats.avro.docs import docs_only

        return docs_only(old, new)

    def generator(self, schema: SchemaFile) -> DataGenerator:
        from evtool.formats.avro.generate import compile_avro_schema

        return compile_avro_schema(schema.document, source=str(schema.path))

    def checks(self, schema: SchemaFile) -> tuple[IsValid, Check]:
        from evtool.formats.avro.validate import avro_checks

        return avro_checks(schema.document)

    def encoder(self, schema: SchemaFile) -> Encode | None:
        import fastavro

        writer_schema = fastavro.parse_schema(schema.document)

        def encode(value: object) -> bytes:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, writer_schema, value)
            return out.getvalue()

        return encode


FORMAT = AvroFormat()
