"""Walkers: a schema document as records, fields and enums (model.py), one per format.

A walker is chosen by the file's format from WALKERS; a format without one is not linted by
the rules that need fields (they say so), rather than being half-read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evtool.catalog.model import SchemaFile, SchemaFormat
from evtool.lint.model import EnumView, FieldView, Kind, NumberedView, RecordView, SchemaView

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2

    from evtool.formats.protobuf.model import ProtoSchema

PII_TAG = "PII"
_AVRO_PRIMITIVES = {
    "string": Kind.STRING,
    "bytes": Kind.OTHER,
    "int": Kind.INTEGER,
    "long": Kind.INTEGER,
    "float": Kind.FLOAT,
    "double": Kind.FLOAT,
    "boolean": Kind.BOOLEAN,
    "null": Kind.OTHER,
}
_JSON_TYPES = {
    "string": Kind.STRING,
    "integer": Kind.INTEGER,
    "number": Kind.FLOAT,
    "boolean": Kind.BOOLEAN,
    "object": Kind.RECORD,
    "array": Kind.ARRAY,
}


def _tags(node: dict[str, Any]) -> frozenset[str]:
    tags = {str(t) for t in node.get("confluent:tags", []) if isinstance(t, str)}
    if node.get("pii") is True or node.get("x-pii") is True:
        tags.add(PII_TAG)
    return frozenset(tags)


class _Avro:
    def __init__(self) -> None:
        self.records: list[RecordView] = []
        self.fields: list[FieldView] = []
        self.enums: list[EnumView] = []
        self.named: dict[str, Kind] = {}

    def walk(self, schema: Any, pointer: str, path: str) -> None:
        if isinstance(schema, list):
            for index, branch in enumerate(schema):
                self.walk(branch, f"{pointer}/{index}", path)
            return
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if kind == "record":
            name = str(schema.get("name", ""))
            self.named[name] = Kind.RECORD
            self.records.append(RecordView(name, pointer, bool(schema.get("doc"))))
            for index, field in enumerate(schema.get("fields", [])):
                if isinstance(field, dict):
                    self.field(field, f"{pointer}/fields/{index}", path)
        elif kind == "enum":
            name = str(schema.get("name", ""))
            self.named[name] = Kind.ENUM
            self.enums.append(
                EnumView(
                    name,
                    pointer,
                    tuple(map(str, schema.get("symbols", []))),
                    bool(schema.get("doc")),
                    "default" in schema,
                )
            )
        elif kind == "array":
            self.walk(schema.get("items"), f"{pointer}/items", path)
        elif kind == "map":
            self.walk(schema.get("values"), f"{pointer}/values", path)

    def field(self, field: dict[str, Any], pointer: str, parent: str) -> None:
        name = str(field.get("name", ""))
        path = f"{parent}.{name}" if parent else name
        declared = field.get("type")
        branch, branch_pointer = declared, f"{pointer}/type"
        if isinstance(declared, list):
            others = [(i, b) for i, b in enumerate(declared) if b != "null"]
            if len(others) == 1:
                branch, branch_pointer = others[0][1], f"{pointer}/type/{others[0][0]}"
        kind, logical = self.kind_of(branch)
        self.fields.append(
            FieldView(
                name=name,
                pointer=pointer,
                path=path,
                kind=kind,
                documented=bool(field.get("doc")),
                optional="default" in field,
                logical=logical,
                tags=_tags(field),
                schema=branch,
            )
        )
        self.walk(branch, branch_pointer, path)

    def kind_of(self, schema: Any) -> tuple[Kind, str | None]:
        if isinstance(schema, str):
            return _AVRO_PRIMITIVES.get(schema, self.named.get(schema.rsplit(".", 1)[-1], Kind.RECORD)), None
        if isinstance(schema, dict):
            logical = schema.get("logicalType")
            if logical == "decimal":
                return Kind.DECIMAL, "decimal"
            kind = schema.get("type")
            mapped = {
                "record": Kind.RECORD,
                "enum": Kind.ENUM,
                "array": Kind.ARRAY,
                "map": Kind.MAP,
                "fixed": Kind.OTHER,
            }.get(str(kind))
            if mapped is None:
                mapped = self.kind_of(kind)[0]
            return mapped, str(logical) if isinstance(logical, str) else None
        return Kind.OTHER, None


def avro_view(document: Any) -> SchemaView:
    walker = _Avro()
    walker.walk(document, "", "")
    return SchemaView(tuple(walker.records), tuple(walker.fields), tuple(walker.enums))


class _Json:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.records: list[RecordView] = []
        self.fields: list[FieldView] = []
        self.enums: list[EnumView] = []

    def resolve(self, node: Any, pointer: str, seen: frozenset[str]) -> tuple[Any, str, frozenset[str]]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            ref = node["$ref"]
            if ref in seen:
                return {}, pointer, seen
            seen = seen | {ref}
            target: Any = self.root
            for token in ref[2:].split("/"):
                target = (
                    target.get(token.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            node, pointer = target, ref[1:]
        return node, pointer, seen

    def walk_object(
        self, node: dict[str, Any], pointer: str, path: str, name: str, seen: frozenset[str]
    ) -> None:
        self.records.append(RecordView(name, pointer, bool(node.get("description"))))
        required = set(node.get("required", []))
        for key, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict):
                self.field(str(key), prop, f"{pointer}/properties/{key}", path, key not in required, seen)

    def field(
        self, name: str, prop: dict[str, Any], pointer: str, parent: str, optional: bool, seen: frozenset[str]
    ) -> None:
        path = f"{parent}.{name}" if parent else name
        node, node_pointer, seen = self.resolve(prop, pointer, seen)
        if not isinstance(node, dict):
            node = {}
        declared = node.get("type")
        if isinstance(declared, list):
            declared = next((t for t in declared if t != "null"), None)
        kind = Kind.ENUM if "enum" in node else _JSON_TYPES.get(str(declared), Kind.OTHER)
        logical = node.get("format")
        examples = tuple(node.get("examples", [])) if isinstance(node.get("examples"), list) else ()
        self.fields.append(
            FieldView(
                name=name,
                pointer=pointer,
                path=path,
                kind=kind,
                documented=bool(prop.get("description") or node.get("description")),
                optional=optional,
                logical=str(logical) if isinstance(logical, str) else None,
                tags=_tags(prop) | _tags(node),
                examples=examples,
                schema=node,
            )
        )
        if kind is Kind.ENUM:
            self.enums.append(
                EnumView(
                    name,
                    node_pointer,
                    tuple(map(str, node.get("enum", []))),
                    bool(prop.get("description") or node.get("description")),
                    False,
                )
            )
        elif kind is Kind.RECORD:  # a nested object is named only by its title (its key is a field name)
            self.walk_object(node, node_pointer, path, str(node.get("title", "")), seen)
        elif kind is Kind.ARRAY and isinstance(node.get("items"), dict):
            items, items_pointer, seen = self.resolve(node["items"], f"{node_pointer}/items", seen)
            if isinstance(items, dict) and (items.get("type") == "object" or "properties" in items):
                self.walk_object(items, items_pointer, f"{path}[]", str(items.get("title", "")), seen)


def json_view(document: Any) -> SchemaView:
    walker = _Json(document)
    if isinstance(document, dict):
        walker.walk_object(document, "", "", str(document.get("title", "")), frozenset())
    return SchemaView(tuple(walker.records), tuple(walker.fields), tuple(walker.enums))


_PROTO_KINDS = {
    **dict.fromkeys(
        ("int32", "int64", "uint32", "uint64", "sint32", "sint64",
         "fixed32", "fixed64", "sfixed32", "sfixed64"),
        Kind.INTEGER,
    ),
    "float": Kind.FLOAT,
    "double": Kind.FLOAT,
    "string": Kind.STRING,
    "bool": Kind.BOOLEAN,
    "bytes": Kind.OTHER,
    "enum": Kind.ENUM,
}
# well-known message types that stand for a value (what Avro says with a logical type)
_PROTO_LOGICAL = {
    "google.protobuf.Timestamp": (Kind.OTHER, "timestamp-nanos"),
    "google.type.Date": (Kind.OTHER, "date"),
    "google.type.Decimal": (Kind.DECIMAL, "decimal"),
    "google.type.Money": (Kind.DECIMAL, "decimal"),
}
_LINE_COMMENT = re.compile(r"//|/\*")


class _Proto:
    """A .proto file's messages, fields and enums from protoc's descriptors.

    Field paths are relative to the subject's main message (`refund_id`, `CardRefund.last4`), like
    Avro's; a message, field or enum is documented when a comment sits on the line above it or
    after it on its line (protoc's leading and trailing comments).
    """

    def __init__(self, schema: ProtoSchema, text: str) -> None:
        from evtool.formats.protobuf.model import line_index

        self.lines = line_index(text)
        self.text_lines = text.splitlines()
        self.package = schema.package
        self.main = schema.main_message or ""
        self.required_ok = schema.syntax != "proto2"
        self.records: list[RecordView] = []
        self.fields: list[FieldView] = []
        self.enums: list[EnumView] = []
        self.numbered: list[NumberedView] = []

    def documented(self, pointer: str) -> bool:
        line = self.lines.get(pointer)
        if line is None or line > len(self.text_lines):
            return False
        if "//" in self.text_lines[line - 1]:
            return True
        above = self.text_lines[line - 2].strip() if line > 1 else ""
        return above.startswith("//") or above.endswith("*/")

    def relative(self, full: str) -> str:
        for prefix in (self.main, self.package):
            if prefix and full.startswith(prefix + "."):
                return full[len(prefix) + 1:]
        return full

    def message(self, message: descriptor_pb2.DescriptorProto, prefix: str) -> None:
        from evtool.formats.protobuf.model import SCALAR_NAMES

        full = prefix + message.name
        if message.options.map_entry:
            return
        pointer = f"/{full}"
        self.records.append(RecordView(message.name, pointer, self.documented(pointer)))
        self.numbered.append(
            NumberedView(
                "message",
                full,
                pointer,
                tuple((f.name, f.number) for f in message.field),
                tuple((r.start, r.end - 1) for r in message.reserved_range),  # descriptor ends are exclusive
                frozenset(message.reserved_name),
            )
        )
        parent = "" if full == self.main else self.relative(full)
        for f in message.field:
            type_name = f.type_name.lstrip(".")
            logical: str | None = None
            if f.type_name and f.type in (f.TYPE_MESSAGE, f.TYPE_GROUP):
                is_map = f.label == f.LABEL_REPEATED and any(
                    n.options.map_entry and type_name == f"{full}.{n.name}" for n in message.nested_type
                )
                kind, logical = (
                    (Kind.MAP, None) if is_map else _PROTO_LOGICAL.get(type_name, (Kind.RECORD, None))
                )
            else:
                kind = _PROTO_KINDS[SCALAR_NAMES[f.type]]
            field_pointer = f"{pointer}/{f.number}"
            self.fields.append(
                FieldView(
                    name=f.name,
                    pointer=field_pointer,
                    path=f"{parent}.{f.name}" if parent else f.name,
                    kind=kind,  # repeated fields carry their element's kind (money, time rules)
                    documented=self.documented(field_pointer),
                    optional=f.label != f.LABEL_REQUIRED,  # proto3: every field may be absent
                    logical=logical,
                    schema=type_name or SCALAR_NAMES.get(f.type),
                    number=f.number,
                )
            )
        for enum in message.enum_type:
            self.enum(enum, full + ".")
        for nested in message.nested_type:
            self.message(nested, full + ".")

    def enum(self, enum: descriptor_pb2.EnumDescriptorProto, prefix: str) -> None:
        full = prefix + enum.name
        pointer = f"/{full}"
        values = tuple((v.name, v.number) for v in enum.value)
        self.enums.append(
            EnumView(
                self.relative(full),
                pointer,
                tuple(name for name, _ in values),
                self.documented(pointer),
                False,
                tuple(number for _, number in values),
            )
        )
        self.numbered.append(
            NumberedView(
                "enum",
                full,
                pointer,
                values,
                tuple((r.start, r.end) for r in enum.reserved_range),  # enum ranges are inclusive
                frozenset(enum.reserved_name),
            )
        )


def protobuf_view(schema: ProtoSchema, text: str) -> SchemaView:
    walker = _Proto(schema, text)
    proto = schema.files[-1]
    prefix = f"{proto.package}." if proto.package else ""
    for message in proto.message_type:
        walker.message(message, prefix)
    for enum in proto.enum_type:
        walker.enum(enum, prefix)
    return SchemaView(
        tuple(walker.records), tuple(walker.fields), tuple(walker.enums), tuple(walker.numbered)
    )


def protobuf_file_view(schema: SchemaFile) -> SchemaView:
    """A .proto version's view: its descriptors (compiled with its imports) and its text (comments)."""
    from evtool.formats.base import narrow
    from evtool.formats.protobuf.model import ProtoSchema

    return protobuf_view(narrow(schema.parsed(), ProtoSchema, "protobuf"), schema.text)


WALKERS: dict[SchemaFormat, Callable[[Any], SchemaView]] = {
    SchemaFormat.AVRO: avro_view,
    SchemaFormat.JSON: json_view,
    SchemaFormat.PROTOBUF: protobuf_file_view,  # given the SchemaFile: it needs the parsed model
}
WHOLE_FILE = frozenset({SchemaFormat.PROTOBUF})  # formats whose walker takes the SchemaFile, not its document


def view_of(schema: SchemaFile) -> SchemaView | None:
    """The lint view of one version; None for a format with no walker."""
    walker = WALKERS.get(schema.format)
    if walker is None:
        return None
    return walker(schema if schema.format in WHOLE_FILE else schema.document)
