"""What the two JSON-text formats (Avro's .avsc, JSON Schema) share: loading with file:line
errors, JSON-pointer locations, and where a published document changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evtool.errors import SchemaError
from evtool.formats.jsontext import escape_pointer_token, line_of_pointer, parse_json_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from evtool.formats.base import SchemaFile

_MISSING = object()


def load_json(text: str, *, source: str) -> object:
    document: object = parse_json_text(text, source=source)
    return document


def locate(schema: SchemaFile, pointer: str) -> int | None:
    return line_of_pointer(schema.text, pointer)


def parse_located(parse: Callable[..., Any], schema: SchemaFile) -> object:
    """Parse with the format's parser; a bad schema's error gains the file's line number."""
    source = str(schema.path)
    try:
        parsed: object = parse(schema.document, source=source)
    except SchemaError as exc:
        if exc.pointer is None:
            raise
        line = schema.line_of(exc.pointer)
        prefix = f"{source}: "
        message = exc.message
        if line is not None and message.startswith(prefix):
            message = f"{source}:{line}: {message[len(prefix):]}"
        raise SchemaError(message, hint=exc.hint, pointer=exc.pointer) from None
    return parsed


def changed_at(old: SchemaFile, new: SchemaFile) -> str | None:
    if old.document == new.document:
        return None
    return first_difference(old.document, new.document)


def first_difference(old: object, new: object, pointer: str = "") -> str:
    """The JSON pointer of the first place two documents differ (formatting is not a change)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if old.get(key, _MISSING) != new.get(key, _MISSING):
                child = f"{pointer}/{escape_pointer_token(key)}"
                if key in old and key in new:
                    return first_difference(old[key], new[key], child)
                return child
        return pointer
    if isinstance(old, list) and isinstance(new, list):
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            if a != b:
                return first_difference(a, b, f"{pointer}/{index}")
        return f"{pointer}/{min(len(old), len(new))}"
    return pointer
