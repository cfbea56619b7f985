"""Protobuf: the rules of .proto evolution and style that the other formats have no word for.

Protobuf fields and enum values are numbers on the wire; what keeps an old reader and a new writer
agreeing is that a number means one thing forever. These rules read the `numbered` part of the
lint view (messages and enums with their `reserved` numbers and names), which only .proto has.
"""

from __future__ import annotations

from collections.abc import Iterator

from evtool.catalog.model import SchemaFormat
from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule
from evtool.lint.rules.naming import SNAKE


def _is_proto(target: LintTarget) -> bool:
    return target.schema.format is SchemaFormat.PROTOBUF


class ProtoFieldNameSnakeCase(Rule):
    """.proto field names are lower_snake_case (`refund_id`), as the Protobuf style guide has them.

    protoc derives every language's accessor and the JSON name (`refundId`) from the snake_case
    name; a camelCase `refundId` yields `getRefundid` in some generators and two spellings of one
    field in JSON. (Other formats keep one case per schema: EV102.)
    """

    code = "EV104"
    name = "proto-field-name-snake-case"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if not _is_proto(target):
            return
        for field in target.view.fields:
            if not SNAKE.match(field.name):
                yield Violation(field.pointer, f"field {field.path!r} is not lower_snake_case")


class ProtoEnumZeroUnspecified(Rule):
    """A .proto enum's first value is `<ENUM>_UNSPECIFIED = 0`, so the enum can grow.

    Proto3 reads a missing or unknown enum value as the zero value; when zero is a real case
    (`DAMAGED = 0`), every event from a newer writer with a value this reader does not know, and
    every event that never set the field, silently becomes that case. A zero value that means
    "not set" keeps them apart. protoc already demands a zero first value in proto3; proto2 enums
    default to their first value, whatever its number. (Avro and JSON Schema enums: EV301.)
    """

    code = "EV304"
    name = "proto-enum-zero-unspecified"
    group = Group.MINIMAL

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if not _is_proto(target):
            return
        for enum in target.view.enums:
            if not enum.symbols:
                continue
            first, number = enum.symbols[0], enum.numbers[0] if enum.numbers else None
            if number != 0 or not first.endswith("_UNSPECIFIED"):
                yield Violation(
                    enum.pointer,
                    f"enum {enum.name!r} starts with {first} = {number}; "
                    "its first value should be *_UNSPECIFIED = 0",
                )


class ProtoDeletedReserved(Rule):
    """A field or enum value deleted since the previous version leaves its number and name `reserved`.

    Old data still carries the deleted number; if a later version gives that number to a new field,
    old events are read into it (a string as a price, say) — Schema Registry accepts that whenever
    the wire types agree. `reserved 4; reserved "reason_note";` makes protoc refuse the reuse. The
    name is reserved too, because the JSON encoding and generated code go by name.
    """

    code = "EV305"
    name = "proto-deleted-reserved"
    group = Group.MINIMAL

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if not _is_proto(target) or target.previous_view is None:
            return
        now = {(n.kind, n.name): n for n in target.view.numbered}
        was_version = target.previous.version if target.previous else "?"
        for old in target.previous_view.numbered:
            new = now.get((old.kind, old.name))
            if new is None:
                continue  # the whole message or enum went: `schema check` reports that
            kept = {number for _, number in new.members}
            what = "field" if old.kind == "message" else "value"
            for member, number in old.members:
                if number in kept:
                    continue
                missing = [
                    label
                    for label, held in (
                        (f"number {number}", new.reserves(number)),
                        (f"name {member!r}", member in new.reserved_names),
                    )
                    if not held
                ]
                if missing:
                    yield Violation(
                        new.pointer,
                        f"{what} {member} = {number} of {old.name} was deleted since v{was_version} "
                        f"without reserving its {' and '.join(missing)}",
                    )
