"""Whether two versions of a JSON Schema differ only in documentation.

A published version whose title, description, examples or `$comment` was edited still reads and
writes exactly the same data; `schema check --against` says so as a warning instead of failing the
build the way a real change to a published version does. Keywords are stripped only where they
are keywords: a property *named* "description" is data.
"""

from __future__ import annotations

from typing import Any

DOC_KEYWORDS = frozenset({"title", "description", "examples", "$comment"})
# JSON Schema keywords whose value is a subschema, an array of them, or a map of them.
_ONE = frozenset({"not", "if", "then", "else", "additionalProperties", "additionalItems",
                  "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems",
                  "items"})
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_MAP = frozenset({"properties", "patternProperties", "definitions", "$defs", "dependentSchemas",
                  "dependencies"})



def docs_only(old: Any, new: Any) -> bool:
    """True when the two documents differ, and only in documentation."""
    return old != new and bool(without_docs(old) == without_docs(new))


def without_docs(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DOC_KEYWORDS:
            continue
        if key in _MAP and isinstance(value, dict):
            out[key] = {name: without_docs(sub) for name, sub in value.items()}
        elif key in _MANY and isinstance(value, list):
            out[key] = [without_docs(sub) for sub in value]
        elif key in _ONE:
            out[key] = without_docs(value)
        else:
            out[key] = value  # enum, const, default, required …: data, kept verbatim
    return out
