"""Documentation: an event schema is an API; its records, fields and enums say what they mean."""

from __future__ import annotations

from collections.abc import Iterator

from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule


class RecordDocumented(Rule):
    """Every record (Avro `doc`, JSON Schema `description` on the object) says what happened or what it is.

    The consumer team reading `OrderPlaced` needs to know whether it fires on checkout or on
    payment; the schema is the one place both sides read.
    """

    code = "EV201"
    name = "record-documented"
    group = Group.STANDARD

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for record in target.view.records:
            if not record.documented:
                yield Violation(record.pointer, f"record {record.name or '(root)'!r} has no documentation")


class FieldDocumented(Rule):
    """Every field has documentation (Avro `doc`, JSON Schema `description`): units, meaning, source.

    `total` in cents or euros, with or without tax, is a question a doc line answers once and a
    missing one makes every consumer ask again.
    """

    code = "EV202"
    name = "field-documented"
    group = Group.STANDARD

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for field in target.view.fields:
            if not field.documented:
                yield Violation(field.pointer, f"field {field.path!r} has no documentation")


class EnumDocumented(Rule):
    """Every enum says what its symbols mean and what a reader should do with one it does not know."""

    code = "EV203"
    name = "enum-documented"
    group = Group.STANDARD

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for enum in target.view.enums:
            if not enum.documented:
                yield Violation(enum.pointer, f"enum {enum.name!r} has no documentation")
