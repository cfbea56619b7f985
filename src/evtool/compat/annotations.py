"""Whether two versions of a schema differ only in documentation.

A published version whose description, title, examples, ``$comment`` or Avro ``doc`` was
edited still reads and writes exactly the same data; `schema check --against` says so as a
warning instead of failing the build the way a real change to a published version does.
Keywords are stripped only where they are keywords: a property *named* "description" is data.
"""

from __future__ import annotations

from typing import Any

from evtool.catalog.model import SchemaFormat

JSON_DOC_KEYWORDS = frozenset({"title", "description", "examples", "$comment"})
AVRO_DOC_KEYWORDS = frozenset({"doc"})
# JSON Schema keywords whose value is a subschema, an array of them, or a map of them.
_ONE = frozenset({"not", "if", "then", "else", "additionalProperties", "additionalItems",
                  "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems",
                  "items"})
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_MAP = frozenset({"properties", "patternProperties", "definitions", "$defs", "dependentSchemas",
                  "dependencies"})


def without_docs(fmt: SchemaFormat, document: Any) -> Any:
    """``document`` with its documentation keywords removed (JSON Schema and Avro)."""
    if fmt is SchemaFormat.AVRO:
        return _avro(document)
    if fmt is SchemaFormat.JSON:
        return _json(document)
    return document


def docs_only(fmt: SchemaFormat, old: Any, new: Any) -> bool:
    """True when ``old`` and ``new`` differ, and only in documentation."""
    if fmt not in (SchemaFormat.AVRO, SchemaFormat.JSON) or old == new:
        return False
    return bool(without_docs(fmt, old) == without_docs(fmt, new))


def _json(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in JSON_DOC_KEYWORDS:
            continue
        if key in _MAP and isinstance(value, dict):
            out[key] = {name: _json(sub) for name, sub in value.items()}
        elif key in _MANY and isinstance(value, list):
            out[key] = [_json(sub) for sub in value]
        elif key in _ONE:
            out[key] = _json(value)
        else:
            out[key] = value  # enum, const, default, required …: data, kept verbatim
    return out


def _avro(schema: Any) -> Any:
    if isinstance(schema, list):  # a union
        return [_avro(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in AVRO_DOC_KEYWORDS:
            continue
        if key == "fields" and isinstance(value, list):
            out[key] = [
                {k: (_avro(v) if k == "type" else v) for k, v in f.items() if k not in AVRO_DOC_KEYWORDS}
                if isinstance(f, dict) else f
                for f in value
            ]
        elif key in ("type", "items", "values"):
            out[key] = _avro(value)
        else:
            out[key] = value  # default, symbols, aliases …: they change what is read
    return out
