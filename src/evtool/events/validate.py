"""Check an event's data against the exact schema version its `dataschema` claims.

Validators are compiled once per (subject, version) and cached on the EventValidator, so
`generate --validate` costs microseconds an event: jsonschema-rs when installed (the "fast"
extra), else jsonschema with format checks; fastavro's validator for Avro subjects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat
from evtool.errors import SchemaError
from evtool.events.envelope import CloudEvent

Check = Callable[[Any], str | None]  # data -> None when valid, else one line saying what is wrong


class InvalidEventError(SchemaError):
    """Generated or received data that does not match the schema version it claims."""


def compile_check(schema: SchemaFile) -> Check:
    """A fast check of data against one schema version."""
    if schema.format is SchemaFormat.AVRO:
        return _avro_check(schema.document)
    return _json_check(schema.document)


def _json_check(document: Any) -> Check:
    try:
        import jsonschema_rs
    except ImportError:
        return _json_check_python(document)
    validator = jsonschema_rs.validator_for(document, validate_formats=True)
    is_valid = validator.is_valid

    def check(data: Any) -> str | None:
        if is_valid(data):
            return None
        error = next(iter(validator.iter_errors(data)))
        path = "/" + "/".join(str(p) for p in error.instance_path)
        return f"at {path}: {error.message}"

    return check


def _json_check_python(document: Any) -> Check:
    from jsonschema.validators import validator_for

    cls = validator_for(document)
    validator = cls(document, format_checker=cls.FORMAT_CHECKER)

    def check(data: Any) -> str | None:
        for error in validator.iter_errors(data):
            path = "/" + "/".join(str(p) for p in error.absolute_path)
            return f"at {path}: {error.message}"
        return None

    return check


def _avro_check(document: Any) -> Check:
    import fastavro
    from fastavro.validation import ValidationError, validate

    parsed = fastavro.parse_schema(document)

    def check(data: Any) -> str | None:
        if validate(data, parsed, raise_errors=False):
            return None
        try:
            validate(data, parsed, raise_errors=True)
        except ValidationError as exc:
            return f"not valid for the Avro schema: {exc}"
        return "not valid for the Avro schema"

    return check


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
