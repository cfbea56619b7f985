"""Validating values against a JSON Schema: jsonschema-rs when it loads, else jsonschema, formats checked."""

from __future__ import annotations

from typing import Any

from evtool.formats.base import Check, IsValid


def json_checks(document: Any) -> tuple[IsValid, Check]:
    try:
        import jsonschema_rs
    except ImportError:
        return json_checks_python(document)
    validator = jsonschema_rs.validator_for(document, validate_formats=True)
    is_valid: IsValid = validator.is_valid

    def check(data: Any) -> str | None:
        if is_valid(data):
            return None
        error = next(iter(validator.iter_errors(data)))
        path = "/" + "/".join(str(p) for p in error.instance_path)
        return f"at {path}: {error.message}"

    return is_valid, check


def json_checks_python(document: Any) -> tuple[IsValid, Check]:
    from jsonschema.validators import validator_for

    cls = validator_for(document)
    validator = cls(document, format_checker=cls.FORMAT_CHECKER)

    def check(data: Any) -> str | None:
        for error in validator.iter_errors(data):
            path = "/" + "/".join(str(p) for p in error.absolute_path)
            return f"at {path}: {error.message}"
        return None

    return validator.is_valid, check
