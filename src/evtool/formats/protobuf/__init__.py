"""Protobuf (`.proto`, proto2 and proto3): Confluent's Protobuf rules, parsed by protoc itself.

A subject's events are its file's first top-level message. Imports name catalogue files as
`<subject>/<version>.proto`; `google/protobuf/*.proto` (the well-known types) come with protoc.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from evtool.errors import SchemaError
from evtool.formats.base import Check, DataGenerator, Encode, IsValid, Peers, SchemaFormat, narrow

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from evtool.formats.base import SchemaFile
    from evtool.formats.findings import Change, Incompatibility
    from evtool.formats.protobuf.model import ProtoSchema

_SPACE = re.compile(r"\s+")


@functools.cache
def _model_type() -> type[ProtoSchema]:
    """Imported on first use (the format's heavy modules load only when needed), then kept:
    the check asks for it four times per pair."""
    from evtool.formats.protobuf.model import ProtoSchema

    return ProtoSchema


def _model(value: object) -> ProtoSchema:
    return narrow(value, _model_type(), "protobuf")


def catalogue_name(schema: SchemaFile) -> str:
    """How imports name the file: `<subject folder>/<file name>`."""
    return f"{schema.path.parent.name}/{schema.path.name}"


class ProtobufFormat:
    name = SchemaFormat.PROTOBUF.value
    label = "Protobuf"
    suffixes = (".proto",)

    def load(self, text: str, *, source: str) -> object:
        return text  # protoc is the parser; it runs when the file is parsed, with its imports

    def parse(self, schema: SchemaFile, peers: Peers) -> object:
        from evtool.formats.protobuf.compile import compile_file
        from evtool.formats.protobuf.model import build

        name = catalogue_name(schema)
        files = compile_file(name, schema.text, peers, source=str(schema.path))
        return build(name, str(schema.path), files)

    def incompatibilities(self, reader: object, writer: object) -> list[Incompatibility]:
        from evtool.formats.protobuf import compat

        return compat.incompatibilities(_model(reader), _model(writer))

    def warnings(self, reader: object, writer: object) -> list[Incompatibility]:
        from evtool.formats.protobuf import compat

        return compat.lossy_changes(_model(reader), _model(writer))

    def changes(self, old: object, new: object) -> list[Change]:
        from evtool.formats.protobuf import compat

        return compat.changes(_model(old), _model(new))

    def locate(self, schema: SchemaFile, pointer: str) -> int | None:
        from evtool.formats.protobuf.model import line_index

        lines = line_index(schema.text)
        while pointer not in lines and pointer:
            pointer = pointer.rsplit("/", 1)[0]  # a removed field: its message's line
        return lines.get(pointer)

    def changed_at(self, old: SchemaFile, new: SchemaFile) -> str | None:
        if _SPACE.sub(" ", old.text).strip() == _SPACE.sub(" ", new.text).strip():
            return None
        for index, (a, b) in enumerate(zip(old.text.splitlines(), new.text.splitlines(), strict=False)):
            if a.strip() != b.strip():
                return _pointer_near(new, index + 1)
        return ""

    def docs_only(self, old: object, new: object) -> bool:
        return False  # comments are not told apart from other edits yet: any change is a change

    def generator(self, schema: SchemaFile) -> DataGenerator:
        from evtool.formats.protobuf.generate import compile_message

        return compile_message(self.message_class(schema).DESCRIPTOR)

    def checks(self, schema: SchemaFile) -> tuple[IsValid, Check]:
        from google.protobuf import json_format

        cls = self.message_class(schema)

        def check(data: Any) -> str | None:
            if not isinstance(data, dict):
                return f"not a {cls.DESCRIPTOR.full_name} message (expected an object)"
            try:
                json_format.ParseDict(data, cls())
            except (json_format.ParseError, ValueError, TypeError) as exc:
                return f"not valid for {cls.DESCRIPTOR.full_name}: {exc}"
            return None

        return (lambda data: check(data) is None), check

    def encoder(self, schema: SchemaFile) -> Encode | None:
        from google.protobuf import json_format

        cls = self.message_class(schema)

        def encode(value: Any) -> bytes:
            data: bytes = json_format.ParseDict(value, cls()).SerializeToString()
            return data

        return encode

    def message_class(self, schema: SchemaFile) -> type[Message]:
        from evtool.formats.protobuf.witness import message_class

        model = _model(schema.parsed())
        main = model.main_message
        cls = message_class(model, main) if main else None
        if cls is None:
            raise SchemaError(
                f"{schema.path}: defines no message", hint="a subject's .proto defines its event message"
            )
        return cls


def _pointer_near(schema: SchemaFile, line: int) -> str:
    """The message or field a changed line belongs to: the nearest element starting at or above it."""
    from evtool.formats.protobuf.model import line_index

    above = [(at, pointer) for pointer, at in line_index(schema.text).items() if at <= line]
    return max(above)[1] if above else ""


FORMAT = ProtobufFormat()
