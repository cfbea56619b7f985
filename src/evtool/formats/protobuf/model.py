"""The Protobuf model the rules compare: a file's messages, their fields by number, oneofs, enums.

Built from protoc's descriptors (so types are resolved as protoc resolves them), with each
field's label *as written*: proto2 writes every label; in proto3 only `repeated` and an explicit
`optional` are written (an implicit field has none). Confluent compares labels only where both
are written, so the difference matters.

Pointers into a .proto file (for findings and line lookup) are `/<message full name>` or
`/<message full name>/<field number>`; the empty pointer is the file (its package line).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from google.protobuf import descriptor_pb2

from evtool.formats.protobuf.compile import Compiled

_F = descriptor_pb2.FieldDescriptorProto
SCALAR_NAMES: dict[int, str] = {
    _F.TYPE_DOUBLE: "double",
    _F.TYPE_FLOAT: "float",
    _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64",
    _F.TYPE_INT32: "int32",
    _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32",
    _F.TYPE_BOOL: "bool",
    _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes",
    _F.TYPE_UINT32: "uint32",
    _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64",
    _F.TYPE_SINT32: "sint32",
    _F.TYPE_SINT64: "sint64",
    _F.TYPE_ENUM: "enum",
}


class ProtoField(NamedTuple):
    """A tuple, so comparing the fields of two versions (the hot loop of a check) is C-level."""

    name: str
    number: int
    kind: str  # "scalar" (enums included), "message" or "map"
    type: str  # scalar name ("int64", "enum" …) or, for messages and maps, the entry/message full name
    type_name: str  # full name of the message or enum type, "" for other scalars
    label: str | None  # as written: "optional", "required", "repeated", or None (proto3 implicit)
    repeated: bool
    oneof: str | None  # the real oneof it belongs to (not proto3 `optional`'s synthetic one)

    def describe(self) -> str:
        shown = self.type_name or self.type
        return f"{self.label + ' ' if self.label else ''}{shown} {self.name} = {self.number}"


@dataclass(frozen=True, slots=True)
class ProtoMessage:
    full_name: str
    fields: dict[int, ProtoField]
    oneofs: dict[str, tuple[int, ...]]  # real oneofs only: name -> field numbers
    map_entry: bool = False


@dataclass(slots=True)
class ProtoSchema:
    """One .proto version: what the compatibility rules read, and descriptors for encoding."""

    name: str  # as the catalogue names it: <subject>/<version>.proto
    source: str
    package: str
    syntax: str  # "proto2", "proto3" or "editions"
    messages: dict[str, ProtoMessage]  # every message the file defines, nested ones included
    enums: dict[str, tuple[tuple[str, int], ...]]  # full name -> (constant, number)
    files: Compiled
    extra: dict[str, Any] = field(default_factory=dict)  # lazily built descriptor pool, classes

    @property
    def main_message(self) -> str | None:
        """The first top-level message: what the subject's events are (Confluent's default too)."""
        top = [n for n, m in self.messages.items() if not m.map_entry and n.count(".") == self.depth0]
        return top[0] if top else None

    @property
    def depth0(self) -> int:
        return self.package.count(".") + 1 if self.package else 0


def build(name: str, source: str, files: Compiled) -> ProtoSchema:
    proto = files[-1]
    syntax = proto.syntax or "proto2"
    package = proto.package
    messages: dict[str, ProtoMessage] = {}
    enums: dict[str, tuple[tuple[str, int], ...]] = {}
    prefix = f"{package}." if package else ""
    for enum in proto.enum_type:
        enums[prefix + enum.name] = tuple((v.name, v.number) for v in enum.value)
    for message in proto.message_type:
        _walk(message, prefix, syntax, messages, enums)
    return ProtoSchema(name, source, package, syntax, messages, enums, files)


def _walk(
    message: descriptor_pb2.DescriptorProto,
    prefix: str,
    syntax: str,
    out: dict[str, ProtoMessage],
    enums: dict[str, tuple[tuple[str, int], ...]],
) -> None:
    full = prefix + message.name
    nested_types = message.nested_type
    entries = {n.name for n in nested_types if n.options.map_entry}
    # each descriptor attribute is read once: a catalogue builds hundreds of thousands of fields
    specs = [(f, f.oneof_index if f.HasField("oneof_index") else None) for f in message.field]
    synthetic = {index for f, index in specs if index is not None and f.proto3_optional}
    oneof_names = {i: d.name for i, d in enumerate(message.oneof_decl) if i not in synthetic}
    fields: dict[int, ProtoField] = {}
    oneofs: dict[str, list[int]] = {name: [] for name in oneof_names.values()}
    for f, oneof_index in specs:
        f_type, f_label, number = f.type, f.label, f.number
        type_name = f.type_name.lstrip(".")
        if f_type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
            is_map = (
                f_label == _F.LABEL_REPEATED
                and type_name.rsplit(".", 1)[-1] in entries
                and type_name.startswith(full + ".")
            )
            kind, kind_type = ("map" if is_map else "message"), type_name
        else:
            kind, kind_type = "scalar", SCALAR_NAMES[f_type]
            if f_type != _F.TYPE_ENUM:
                type_name = ""
        oneof = oneof_names.get(oneof_index) if oneof_index is not None else None
        if oneof is not None:
            oneofs[oneof].append(number)
        fields[number] = ProtoField(
            f.name, number, kind, kind_type, type_name, _written_label(f, f_label, syntax),
            f_label == _F.LABEL_REPEATED, oneof,
        )
    out[full] = ProtoMessage(
        full, fields, {k: tuple(v) for k, v in oneofs.items()}, message.options.map_entry
    )
    for enum in message.enum_type:
        enums[f"{full}.{enum.name}"] = tuple((v.name, v.number) for v in enum.value)
    for nested in nested_types:
        _walk(nested, full + ".", syntax, out, enums)


def _written_label(f: descriptor_pb2.FieldDescriptorProto, label: int, syntax: str) -> str | None:
    if label == _F.LABEL_REPEATED:
        return "repeated"
    if label == _F.LABEL_REQUIRED:
        return "required"
    if syntax == "proto2" or f.proto3_optional:
        return "optional"
    return None


# --------------------------------------------------------------------------------------- locator

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_BLOCK = re.compile(r"\b(message|enum|oneof|service|extend)\s+([A-Za-z_][\w.]*)\s*\{")
_FIELD_NUMBER = re.compile(r"([A-Za-z_]\w*)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;")
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE)
_TOKEN = re.compile(r"\{|\}|" + _BLOCK.pattern + "|" + _FIELD_NUMBER.pattern)
_NOT_NEWLINE = re.compile(r"[^\n]")


@functools.lru_cache(maxsize=1024)
def line_index(text: str) -> dict[str, int]:
    """Pointer -> 1-based line: `/<message>`, `/<message>/<number>`, and "" for the package line."""
    clean = _COMMENT.sub(lambda m: _NOT_NEWLINE.sub(" ", m.group()), text)
    package_match = _PACKAGE.search(clean)
    package = package_match.group(1) if package_match else ""
    lines: dict[str, int] = {"": clean.count("\n", 0, package_match.start(1)) + 1 if package_match else 1}
    stack: list[tuple[str, str]] = []  # (kind, name)
    line, counted = 1, 0  # lines counted up to `counted` (once over the text, not per token)
    for match in _TOKEN.finditer(clean):
        text_ = match.group()
        line += clean.count("\n", counted, match.start())
        counted = match.start()
        if text_ == "{":
            stack.append(("block", ""))
        elif text_ == "}":
            if stack:
                stack.pop()
        elif match.group(1):  # message / enum / oneof … opening
            kind, name = match.group(1), match.group(2)
            stack.append((kind, name))
            if kind == "message":
                lines[_message_path(package, stack)] = line
            elif kind == "enum":  # `/<enum full name>`, as the lint walker points at enums
                outer = _message_path(package, stack[:-1])
                lines[f"{outer}.{name}" if outer != "/" else f"/{name}"] = line
        elif match.group(4) and stack and stack[-1][0] in ("message", "oneof"):
            lines[f"{_message_path(package, stack)}/{match.group(4)}"] = line
    return lines


def _message_path(package: str, stack: list[tuple[str, str]]) -> str:
    names = [name for kind, name in stack if kind == "message"]
    return "/" + ".".join([package, *names] if package else names)
