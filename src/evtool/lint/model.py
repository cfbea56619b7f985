"""What lint rules look at: a schema's records, fields and enums in one shape for every format.

Rules are written once against these views; each format contributes a walker (fields.py) that
turns its documents into them, so a rule about money or timestamps holds for Avro and JSON
Schema alike and a new format only adds its walker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evtool.catalog.model import SchemaFile, Subject
from evtool.config import SubjectSettings
from evtool.formats.findings import Location


class Group(StrEnum):
    """Rule sets, as buf's: each includes the one before it."""

    MINIMAL = "MINIMAL"  # what breaks consumers or data when missing
    BASIC = "BASIC"  # conventions most teams want
    STANDARD = "STANDARD"  # the full set: documentation and ownership too

    @property
    def includes(self) -> tuple[Group, ...]:
        order = list(Group)
        return tuple(order[: order.index(self) + 1])


class Kind(StrEnum):
    """A field's value kind, across formats."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"  # binary floating point: float/double, JSON `number`
    DECIMAL = "decimal"  # exact: Avro decimal
    BOOLEAN = "boolean"
    RECORD = "record"
    ENUM = "enum"
    ARRAY = "array"
    MAP = "map"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FieldView:
    name: str
    pointer: str  # JSON pointer into the schema file
    path: str  # dotted path from the root record, for messages (customer.email)
    kind: Kind
    documented: bool
    optional: bool  # may be absent: Avro with a default, JSON not required
    logical: str | None = None  # Avro logicalType, JSON format
    tags: frozenset[str] = frozenset()  # confluent:tags, plus PII when marked pii/x-pii
    examples: tuple[Any, ...] = ()
    schema: Any = None  # the field's own schema node
    number: int | None = None  # .proto: the field number (what the wire carries)


@dataclass(frozen=True, slots=True)
class EnumView:
    name: str
    pointer: str
    symbols: tuple[str, ...]
    documented: bool
    has_default: bool  # Avro enum `default`: readers map unknown symbols to it
    numbers: tuple[int, ...] = ()  # .proto: each symbol's number, in declared order


@dataclass(frozen=True, slots=True)
class RecordView:
    name: str
    pointer: str
    documented: bool


@dataclass(frozen=True, slots=True)
class NumberedView:
    """A .proto message or enum by numbers: its members and what it keeps `reserved`.

    Protobuf identifies fields and enum values by number on the wire; what a deleted member leaves
    behind (its reserved number and name) is what stops a later version reusing it.
    """

    kind: str  # "message" or "enum"
    name: str  # full name
    pointer: str
    members: tuple[tuple[str, int], ...]  # (name, number) as declared
    reserved_ranges: tuple[tuple[int, int], ...] = ()  # inclusive
    reserved_names: frozenset[str] = frozenset()

    def reserves(self, number: int) -> bool:
        return any(low <= number <= high for low, high in self.reserved_ranges)


@dataclass(frozen=True, slots=True)
class SchemaView:
    records: tuple[RecordView, ...]
    fields: tuple[FieldView, ...]
    enums: tuple[EnumView, ...]
    numbered: tuple[NumberedView, ...] = ()  # .proto messages and enums (other formats: none)

    def field_at(self, path: str) -> FieldView | None:
        for view in self.fields:
            if view.path == path:
                return view
        return None


@dataclass(frozen=True, slots=True)
class LintTarget:
    """One subject's version under lint, with the version before it (rules about change)."""

    subject: Subject
    schema: SchemaFile
    view: SchemaView
    previous: SchemaFile | None
    previous_view: SchemaView | None
    settings: SubjectSettings | None


@dataclass(frozen=True, slots=True)
class Violation:
    pointer: str
    message: str


@dataclass(frozen=True, slots=True)
class LintFinding:
    code: str
    rule: str
    subject: str
    version: int  # 0 for a finding about the catalogue's layout rather than one version
    location: Location  # the file (or the subject's folder) and line the finding names
    violation: Violation
    ignored_because: str | None = None


@dataclass
class LintReport:
    findings: list[LintFinding] = field(default_factory=list)
    subjects_linted: int = 0
    rules_applied: tuple[str, ...] = ()

    @property
    def standing(self) -> list[LintFinding]:
        return [f for f in self.findings if f.ignored_because is None]
