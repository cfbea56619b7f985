"""Naming: one case per kind of name, so generated code and queries read the same everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator

from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule

PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


class RecordNamePascalCase(Rule):
    """Record (and message, object title) names are PascalCase, e.g. `OrderPlaced`.

    Code generators turn record names into class names; a `order_placed` record becomes an
    awkward class in every language, and two spellings of one concept look like two concepts.
    """

    code = "EV101"
    name = "record-name-pascal-case"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for record in target.view.records:
            if record.name and not PASCAL.match(record.name.rsplit(".", 1)[-1]):
                yield Violation(record.pointer, f"record name {record.name!r} is not PascalCase")


class FieldNameCase(Rule):
    """Field names use one case in a schema: all snake_case (`order_id`) or all lowerCamelCase (`orderId`).

    Mixed cases in one event force every consumer to remember which field is which; the case
    the schema mostly uses wins, and the others are named. (.proto fields: EV104.)
    """

    code = "EV102"
    name = "field-name-case"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.schema.format.value == "protobuf":
            return  # .proto has one case by its style guide: EV104
        names = [f for f in target.view.fields if f.name]
        snake = sum(bool(SNAKE.match(f.name)) for f in names)
        camel = sum(bool(CAMEL.match(f.name)) and not SNAKE.match(f.name) for f in names)
        pattern, label = (SNAKE, "snake_case") if snake >= camel else (CAMEL, "lowerCamelCase")
        for field in names:
            if not pattern.match(field.name):
                yield Violation(
                    field.pointer, f"field {field.path!r} is not {label} like the rest of the schema"
                )


class EnumSymbolCase(Rule):
    """Avro and .proto enum symbols are UPPER_SNAKE_CASE (`MOBILE_APP`); JSON Schema enum values share a case.

    Symbols end up as constants in generated code; one style keeps `switch` statements and
    dashboards consistent across teams.
    """

    code = "EV103"
    name = "enum-symbol-case"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        upper = target.schema.format.value in ("avro", "protobuf")
        for enum in target.view.enums:
            if upper:
                bad = [s for s in enum.symbols if not UPPER_SNAKE.match(s)]
                if bad:
                    yield Violation(
                        enum.pointer, f"enum {enum.name!r} symbols not UPPER_SNAKE_CASE: {', '.join(bad)}"
                    )
            else:
                styles = {_style(s) for s in enum.symbols}
                if len(styles) > 1:
                    yield Violation(
                        enum.pointer, f"enum {enum.name!r} mixes cases: {', '.join(enum.symbols)}"
                    )


def _style(symbol: str) -> str:
    if UPPER_SNAKE.match(symbol):
        return "upper"
    if SNAKE.match(symbol):
        return "snake"
    return "other"
