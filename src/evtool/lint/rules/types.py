"""Types: values that mean what they say — money exact, time as time."""

from __future__ import annotations

import re
from collections.abc import Iterator

from evtool.lint.model import Group, Kind, LintTarget, Violation
from evtool.lint.rule import Rule

MONEY = re.compile(
    r"(^|_|[a-z])(price|amount|total|cost|fee|tax|balance|revenue|discount|refund|payment)s?($|_|[A-Z])",
    re.IGNORECASE,
)
TIME = re.compile(r"(_at|_time|_date|At|Time|Date|timestamp|Timestamp)$|^(time|date|timestamp)$")
TIME_LOGICAL = {
    "timestamp-millis",
    "timestamp-micros",
    "timestamp-nanos",
    "local-timestamp-millis",
    "local-timestamp-micros",
    "date",
    "time-millis",
    "time-micros",
    "date-time",
    "time",
}


class MoneyNotFloat(Rule):
    """Money is never binary floating point: use integer minor units (`total_minor: long`) or a decimal.

    0.1 + 0.2 is not 0.3 in a double; totals that do not add up are found by finance, weeks later.
    """

    code = "EV401"
    name = "money-not-float"
    group = Group.MINIMAL

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for field in target.view.fields:
            if field.kind is Kind.FLOAT and MONEY.search(field.name):
                yield Violation(
                    field.pointer,
                    f"field {field.path!r} looks like money but is floating point; "
                    "use integer minor units or a decimal",
                )


class TimestampLogicalType(Rule):
    """Timestamps carry their meaning: Avro `logicalType` timestamp-millis/micros (or date), JSON Schema
    `format: date-time` (or date).

    A bare `long` could be seconds, milliseconds or a counter; consumers guess, and some guess wrong.
    """

    code = "EV402"
    name = "timestamp-logical-type"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for field in target.view.fields:
            looks_like_time = TIME.search(field.name) is not None
            if (
                looks_like_time
                and field.kind in (Kind.INTEGER, Kind.STRING)
                and field.logical not in TIME_LOGICAL
            ):
                yield Violation(
                    field.pointer, f"field {field.path!r} holds a time without a logical type/format"
                )
