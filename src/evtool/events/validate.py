"""Check an event's data against the exact schema version its `dataschema` claims.

Validators are compiled once per (subject, version) and cached on the EventValidator, so
`generate --validate` costs microseconds an event; each format supplies its own (formats/).
"""

from __future__ import annotations

from evtool.catalog.model import Catalog, SchemaFile
from evtool.errors import SchemaError
from evtool.events.envelope import CloudEvent
from evtool.formats.base import Check, IsValid

__all__ = ["Check", "EventValidator", "InvalidEventError", "IsValid", "compile_check", "compile_checks"]


class InvalidEventError(SchemaError):
    """Generated or received data that does not match the schema version it claims."""


def compile_check(schema: SchemaFile) -> Check:
    """A fast check of data against one schema version."""
    return compile_checks(schema)[1]


def compile_checks(schema: SchemaFile) -> tuple[IsValid, Check]:
    """(is_valid, check) for one schema version: a bare yes/no is cheaper than a reason."""
    return schema.handler.checks(schema)


class EventValidator:
    """Validates events against the catalogue version named by their `dataschema`."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._checks: dict[tuple[str, int], Check] = {}

    def check_for(self, subject: str, version: int) -> Check:
        key = (subject, version)
        check = self._checks.get(key)
        if check is None:
            check = self._checks[key] = compile_check(self.catalog.subject(subject).version(version))
        return check

    def check(self, event: CloudEvent) -> str | None:
        """None when valid, else a one-line reason naming the event and the failing place."""
        ref = event.schema_ref
        if ref is None:
            return f"event {event.id}: dataschema {event.dataschema!r} names no catalogue subject/version"
        problem = self.check_for(*ref)(event.data)
        if problem is None:
            return None
        return f"event {event.id} ({ref[0]} v{ref[1]}) {problem}"

    def validate(self, event: CloudEvent) -> None:
        """Raise InvalidEventError when the event's data does not match its schema version."""
        problem = self.check(event)
        if problem is not None:
            raise InvalidEventError(problem)
