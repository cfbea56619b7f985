"""Counterexamples for Avro incompatibilities: a minimal writer datum, proved by fastavro.

The datum is the smallest value the writer schema accepts, except along the writer path
that leads to the problem, where it takes the offending union branch or enum symbol.
It is then really encoded with the writer schema and decoded with the reader schema; only
a decode that fails counts as proof, so a counterexample is never a guess.
"""

from __future__ import annotations

import io
from typing import Any

from evtool.formats.avro.model import (
    AvroSchema,
    _Container,
    _Enum,
    _Fixed,
    _Named,
    _Node,
    _Record,
    _Union,
)
from evtool.formats.findings import Counterexample

_MAX_PROOF = 300
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


class _NoWitness(Exception):
    """No finite datum exists (a record that always contains itself) or the path is invalid."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_PROOF else text[: _MAX_PROOF - 1] + "…"


def _plain(value: Any) -> Any:
    """Bytes as latin-1 text (Avro's JSON encoding) so the event stays JSON-serialisable."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _branch_name(node: _Node) -> str:
    return node.fullname if isinstance(node, _Named) else node.kind


def minimal(node: _Node, stack: frozenset[int] = frozenset()) -> tuple[Any, Any]:
    """The smallest datum of ``node``: (fastavro form with union tuples, plain form)."""
    kind = node.kind
    if isinstance(node, _Record):
        if id(node) in stack:
            raise _NoWitness(f"record {node.fullname} always contains itself")
        inner = stack | {id(node)}
        fa: dict[str, Any] = {}
        plain: dict[str, Any] = {}
        for fld in node.fields:
            fa[fld.name], plain[fld.name] = minimal(fld.type, inner)
        return fa, plain
    if isinstance(node, _Enum):
        return node.symbols[0], node.symbols[0]
    if isinstance(node, _Fixed):
        value = bytes(node.size)
        return value, _plain(value)
    if isinstance(node, _Container):
        return ([], []) if kind == "array" else ({}, {})
    if isinstance(node, _Union):
        for branch in node.branches:
            try:
                fa_b, plain_b = minimal(branch, stack)
            except _NoWitness:
                continue
            return (_branch_name(branch), fa_b), plain_b
        raise _NoWitness("no union branch has a finite value")
    if kind == "null":
        return None, None
    if kind == "boolean":
        return False, False
    if kind in ("int", "long"):
        return 0, 0
    if kind in ("float", "double"):
        return 0.0, 0.0
    if kind == "string":
        value_s = _ZERO_UUID if node.logical == "uuid" else ""
        return value_s, value_s
    # bytes: one zero byte decodes as decimal 0 too
    value_b = b"\x00" if node.logical == "decimal" else b""
    return value_b, _plain(value_b)


def build(node: _Node, steps: list[tuple[Any, ...]], at: int, symbol: str | None) -> tuple[Any, Any]:
    """A minimal datum of ``node`` that follows ``steps`` and ends on the problem."""
    if at == len(steps):
        if symbol is not None and isinstance(node, _Enum):
            return symbol, symbol
        return minimal(node)
    step = steps[at]
    if step[0] == "field" and isinstance(node, _Record):
        fa: dict[str, Any] = {}
        plain: dict[str, Any] = {}
        for fld in node.fields:
            if fld.name == step[1]:
                fa[fld.name], plain[fld.name] = build(fld.type, steps, at + 1, symbol)
            else:
                fa[fld.name], plain[fld.name] = minimal(fld.type, frozenset({id(node)}))
        return fa, plain
    if step[0] == "child" and isinstance(node, _Container):
        fa_c, plain_c = build(node.child, steps, at + 1, symbol)
        return ([fa_c], [plain_c]) if node.kind == "array" else ({"k": fa_c}, {"k": plain_c})
    if step[0] == "branch" and isinstance(node, _Union):
        branch = node.branches[step[1]]
        fa_b, plain_b = build(branch, steps, at + 1, symbol)
        return (_branch_name(branch), fa_b), plain_b
    raise _NoWitness(f"writer path step {step!r} does not fit {node.kind}")


def counterexample(
    reader: AvroSchema, writer: AvroSchema, steps: list[tuple[Any, ...]], symbol: str | None
) -> tuple[Counterexample | None, str | None]:
    """(counterexample, None) when fastavro fails to decode the datum, else (None, why not)."""
    import fastavro

    try:
        datum, event = build(writer.root, steps, 0, symbol)
    except _NoWitness as exc:
        return None, f"no finite writer datum reaches this place: {exc}"
    try:
        writer_fa = writer.fastavro_schema()
        reader_fa = reader.fastavro_schema()
    except Exception as exc:
        return None, f"fastavro cannot parse the schema: {_one_line(exc)}"
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, writer_fa, datum)
    except Exception as exc:
        return None, f"could not encode a writer datum: {_one_line(exc)}"
    try:
        fastavro.schemaless_reader(io.BytesIO(buf.getvalue()), writer_fa, reader_fa)
    except RecursionError:
        raise  # running out of stack proves nothing about the pair (the check names the files)
    except Exception as exc:
        return Counterexample(event=event, proof=_one_line(exc)), None
    return None, (
        "fastavro decoded the minimal writer datum with the reader schema without error; "
        "Avro Java's SchemaCompatibility still rejects this pair"
    )


def _at(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return node


def cause_token(reader: AvroSchema, code: str, pointer: str, enum_symbol: str | None) -> str | None:
    """The word fastavro's error names when decoding fails for this issue: the symbol of a
    missing enum symbol, the field of a field without default. None when it names none."""
    if code == "missing-enum-symbol":
        return enum_symbol
    if code == "reader-field-missing-default":
        field_ = _at(reader.document, pointer)
        if isinstance(field_, dict) and isinstance(field_.get("name"), str):
            return str(field_["name"])
    return None


def _names(text: str, token: str) -> bool:
    import re

    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w])", text) is not None


def attribute(
    results: list[tuple[Counterexample | None, str | None]],
    issues: list[tuple[str, str, str | None]],
) -> list[tuple[Counterexample | None, str | None]]:
    """Drop proofs that fail for another issue's reason.

    fastavro stops at the first error, and a field without default fails every datum before
    anything else is looked at; such a "proof" quotes the other change, so the finding says
    which change rejects the data first instead. ``issues`` are (code, pointer, token).
    """
    out = []
    for index, (example, reason) in enumerate(results):
        _code, _pointer, token = issues[index]
        if example is None or (token is not None and _names(example.proof, token)):
            out.append((example, reason))
            continue
        other = next(
            (
                (c, p)
                for i, (c, p, t) in enumerate(issues)
                if i != index and t is not None and _names(example.proof, t)
            ),
            None,
        )
        if other is None:
            out.append((example, reason))
            continue
        out.append((None, (
            "every writer datum reaching this place is rejected first for another change of "
            f"this version ({other[0]} at {other[1] or '/'}: {example.proof}); fix that one "
            "and check again")))
    return out
