"""Whether two versions of an Avro schema differ only in documentation.

A published version whose `doc` was edited still reads and writes exactly the same data;
`schema check --against` says so as a warning instead of failing the build the way a real
change to a published version does.
"""

from __future__ import annotations

from typing import Any

DOC_KEYWORDS = frozenset({"doc"})


def docs_only(old: Any, new: Any) -> bool:
    """True when the two documents differ, and only in documentation."""
    return old != new and bool(without_docs(old) == without_docs(new))


def without_docs(schema: Any) -> Any:
    if isinstance(schema, list):  # a union
        return [without_docs(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DOC_KEYWORDS:
            continue
        if key == "fields" and isinstance(value, list):
            out[key] = [
                {k: (without_docs(v) if k == "type" else v) for k, v in f.items() if k not in DOC_KEYWORDS}
                if isinstance(f, dict) else f
                for f in value
            ]
        elif key in ("type", "items", "values"):
            out[key] = without_docs(value)
        else:
            out[key] = value  # default, symbols, aliases …: they change what is read
    return out
