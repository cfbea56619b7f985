"""The parsed form of an Avro schema: a graph of nodes, validated once, fingerprinted.

Shared by the compatibility check (avro.py) and the counterexample builder
(witness.py), which both walk it; keeping it apart keeps those two from importing
each other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from evtool.errors import SchemaError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FP_LIMIT = 50_000  # longer fingerprints are not worth keeping; the walk handles those nodes
_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
_LOGICAL_BASES: dict[str, tuple[str, ...]] = {
    "decimal": ("bytes", "fixed"),
    "big-decimal": ("bytes",),
    "uuid": ("string", "fixed"),
    "date": ("int",),
    "time-millis": ("int",),
    "time-micros": ("long",),
    "timestamp-millis": ("long",),
    "timestamp-micros": ("long",),
    "timestamp-nanos": ("long",),
    "local-timestamp-millis": ("long",),
    "local-timestamp-micros": ("long",),
    "local-timestamp-nanos": ("long",),
    "duration": ("fixed",),
}


# --------------------------------------------------------------------------- parsed form


class _Node:
    """One schema node; named types are shared by every place that references them."""

    __slots__ = ("fp", "fp_done", "kind", "logical")

    def __init__(self, kind: str, logical: str | None = None) -> None:
        self.kind = kind
        self.logical = logical
        self.fp: str | None = None
        self.fp_done = False


def _primitive(kind: str) -> _Node:
    node = _Node(kind)
    node.fp = kind
    node.fp_done = True
    return node


# Plain primitives carry nothing but their kind, so every schema shares these (never mutated):
# fewer objects per parsed schema, which matters when a catalogue keeps thousands alive.
_PRIMITIVE_NODES: dict[str, _Node] = {kind: _primitive(kind) for kind in PRIMITIVES}


class _Named(_Node):
    __slots__ = ("aliases", "doc", "fullname", "name", "ptr")

    def __init__(self, kind: str, fullname: str, aliases: frozenset[str], ptr: str) -> None:
        super().__init__(kind)
        self.fullname = fullname
        self.name = fullname.rpartition(".")[2]
        self.aliases = aliases  # qualified with the type's namespace, as Java does
        self.ptr = ptr  # where the definition is in the document


class _Field:
    __slots__ = ("aliases", "default", "has_default", "name", "ptr", "type", "type_ptr")

    def __init__(self, name: str, ftype: _Node, ptr: str, aliases: tuple[str, ...]) -> None:
        self.name = name
        self.type = ftype
        self.ptr = ptr
        self.type_ptr = ptr + "/type"
        self.aliases = aliases
        self.has_default = False
        self.default: Any = None


class _Record(_Named):
    __slots__ = ("by_name", "fields")

    def __init__(self, fullname: str, aliases: frozenset[str], ptr: str) -> None:
        super().__init__("record", fullname, aliases, ptr)
        self.fields: list[_Field] = []
        self.by_name: dict[str, _Field] = {}


class _Enum(_Named):
    __slots__ = ("default", "symbol_set", "symbols")

    def __init__(self, fullname: str, aliases: frozenset[str], ptr: str, symbols: tuple[str, ...]) -> None:
        super().__init__("enum", fullname, aliases, ptr)
        self.symbols = symbols
        self.symbol_set = frozenset(symbols)
        self.default: str | None = None


class _Fixed(_Named):
    __slots__ = ("size",)

    def __init__(self, fullname: str, aliases: frozenset[str], ptr: str, size: int) -> None:
        super().__init__("fixed", fullname, aliases, ptr)
        self.size = size


class _Container(_Node):
    """array (child = items) or map (child = values)."""

    __slots__ = ("child", "child_ptr")

    def __init__(self, kind: str, child: _Node, child_ptr: str) -> None:
        super().__init__(kind)
        self.child = child
        self.child_ptr = child_ptr


class _Union(_Node):
    __slots__ = ("branch_ptrs", "branches")

    def __init__(self, branches: tuple[_Node, ...], branch_ptrs: tuple[str, ...]) -> None:
        super().__init__("union")
        self.branches = branches
        self.branch_ptrs = branch_ptrs


@dataclass(frozen=True)
class AvroSchema:
    """A validated Avro schema: the original JSON ``document`` plus the graph the checks walk.

    ``_cache`` holds the fastavro-parsed schema, built on first need (counterexamples only),
    so a compatible pair never pays for it.
    """

    document: Any
    source: str
    root: _Node = field(repr=False, compare=False)
    names: dict[str, _Named] = field(repr=False, compare=False)
    # every logicalType the schema declares: a rule about one skips pairs without it
    logical_types: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def fingerprint(self) -> str | None:
        """Resolution-relevant structure; equal fingerprints read each other trivially."""
        return self.root.fp

    def fastavro_schema(self) -> Any:
        """The fastavro-parsed form of ``document``, parsed once."""
        parsed = self._cache.get("fastavro")
        if parsed is None:
            import fastavro

            parsed = self._cache["fastavro"] = fastavro.parse_schema(self.document)
        return parsed


# --------------------------------------------------------------------------- parsing


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.names: dict[str, _Named] = {}
        self.pending_defaults: list[tuple[_Field, str]] = []
        self.logical_types: set[str] = set()

    def fail(self, ptr: str, what: str, hint: str) -> SchemaError:
        where = ptr or "/"
        return SchemaError(f"{self.source}: {what} (at {where})", hint=hint, pointer=ptr)

    def check_name(self, value: Any, ptr: str, what: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(ptr, f"{what} must be a non-empty string", "give it a name")
        for part in value.split("."):
            if not _NAME_RE.match(part):
                raise self.fail(
                    ptr,
                    f"{what} {value!r} is not a valid Avro name",
                    "names start with a letter or _ and contain only letters, digits and _",
                )
        return value

    def node(self, doc: Any, ptr: str, ns: str) -> _Node:
        if isinstance(doc, str):
            return self.reference(doc, ptr, ns)
        if isinstance(doc, list):
            return self.union(doc, ptr, ns)
        if not isinstance(doc, dict):
            raise self.fail(
                ptr,
                f"a schema must be a type name, an object or a union array, not {doc!r}",
                'write e.g. "string", {"type": "record", ...} or ["null", "string"]',
            )
        kind = doc.get("type")
        if kind is None:
            raise self.fail(ptr, 'schema object has no "type"', 'add "type", e.g. "record"')
        if not isinstance(kind, str):
            raise self.fail(
                ptr + "/type",
                '"type" of a schema object must be a type name string',
                "put the nested schema directly in place of this object",
            )
        if kind in PRIMITIVES:
            if "logicalType" not in doc:
                return _PRIMITIVE_NODES[kind]
            return self.logical(doc, ptr, _Node(kind), kind)
        if kind in ("record", "error"):
            return self.record(doc, ptr, ns)
        if kind == "enum":
            return self.enum(doc, ptr, ns)
        if kind == "fixed":
            return self.fixed(doc, ptr, ns)
        if kind in ("array", "map"):
            key = "items" if kind == "array" else "values"
            if key not in doc:
                raise self.fail(ptr, f'{kind} schema has no "{key}"', f'add "{key}": <schema>')
            child_ptr = f"{ptr}/{key}"
            return _Container(kind, self.node(doc[key], child_ptr, ns), child_ptr)
        return self.reference(kind, ptr + "/type", ns)

    def reference(self, name: str, ptr: str, ns: str) -> _Node:
        if name in PRIMITIVES:
            return _PRIMITIVE_NODES[name]
        if name in ("record", "error", "enum", "fixed", "array", "map"):
            raise self.fail(
                ptr, f"{name!r} is a complex type and needs an object", f'write {{"type": "{name}", ...}}'
            )
        found = None
        if "." not in name and ns:
            found = self.names.get(f"{ns}.{name}")
        if found is None:
            found = self.names.get(name)
        if found is None:
            known = ", ".join(sorted(self.names)) or "none"
            raise self.fail(
                ptr,
                f"unknown type {name!r}",
                f"define the named type before its first use or fix the name (defined: {known})",
            )
        return found

    def union(self, doc: list[Any], ptr: str, ns: str) -> _Node:
        branches: list[_Node] = []
        ptrs: list[str] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(doc):
            bptr = f"{ptr}/{i}"
            if isinstance(item, list):
                raise self.fail(bptr, "a union may not directly contain another union", "flatten it")
            branch = self.node(item, bptr, ns)
            key = branch.fullname if isinstance(branch, _Named) else branch.kind
            if key in seen:
                raise self.fail(
                    bptr,
                    f"union has {key!r} twice (branches {seen[key]} and {i})",
                    "a union holds each type (or named type) once; remove the duplicate",
                )
            seen[key] = i
            branches.append(branch)
            ptrs.append(bptr)
        return _Union(tuple(branches), tuple(ptrs))

    def named(self, doc: dict[str, Any], ptr: str, ns: str) -> tuple[str, str, frozenset[str]]:
        name = self.check_name(doc.get("name"), ptr + "/name", f'{doc["type"]} "name"')
        if "." in name:
            space = name.rpartition(".")[0]
            fullname = name
        else:
            space_value = doc.get("namespace", ns)
            if space_value is None:
                space_value = ""
            if not isinstance(space_value, str):
                raise self.fail(ptr + "/namespace", '"namespace" must be a string', "fix it")
            if space_value:
                self.check_name(space_value, ptr + "/namespace", '"namespace"')
            space = space_value
            fullname = f"{space}.{name}" if space else name
        if fullname.rpartition(".")[2] in PRIMITIVES:
            raise self.fail(ptr + "/name", f"a named type may not be called {name!r}", "rename it")
        if fullname in self.names:
            raise self.fail(
                ptr + "/name",
                f"named type {fullname!r} is defined twice",
                "define it once and refer to it by name afterwards",
            )
        aliases: set[str] = set()
        raw = doc.get("aliases", [])
        if not isinstance(raw, list):
            raise self.fail(ptr + "/aliases", '"aliases" must be an array of names', "fix it")
        for i, alias in enumerate(raw):
            self.check_name(alias, f"{ptr}/aliases/{i}", "alias")
            aliases.add(alias if "." in alias or not space else f"{space}.{alias}")
        return fullname, space, frozenset(aliases)

    def record(self, doc: dict[str, Any], ptr: str, ns: str) -> _Node:
        fullname, space, aliases = self.named(doc, ptr, ns)
        rec = _Record(fullname, aliases, ptr)
        self.names[fullname] = rec  # before the fields: a record may refer to itself
        fields = doc.get("fields")
        if not isinstance(fields, list):
            raise self.fail(ptr, f'record {fullname} needs a "fields" array', 'add "fields": [...]')
        alias_owner: dict[str, str] = {}
        for i, fdoc in enumerate(fields):
            fptr = f"{ptr}/fields/{i}"
            if not isinstance(fdoc, dict):
                raise self.fail(fptr, "a record field must be an object", 'write {"name": ..., "type": ...}')
            fname = fdoc.get("name")
            if not isinstance(fname, str) or not _NAME_RE.match(fname):
                raise self.fail(
                    fptr + "/name",
                    f"field name {fname!r} of record {fullname} is not a valid Avro name",
                    "names start with a letter or _ and contain only letters, digits and _",
                )
            if fname in rec.by_name:
                raise self.fail(fptr + "/name", f"record {fullname} has field {fname!r} twice", "rename one")
            if "type" not in fdoc:
                raise self.fail(fptr, f'field {fname!r} of record {fullname} has no "type"', 'add "type"')
            raw_aliases = fdoc.get("aliases", [])
            if not isinstance(raw_aliases, list):
                raise self.fail(fptr + "/aliases", '"aliases" must be an array of names', "fix it")
            for j, alias in enumerate(raw_aliases):
                if not isinstance(alias, str) or not _NAME_RE.match(alias):
                    raise self.fail(
                        f"{fptr}/aliases/{j}", f"field alias {alias!r} is not a valid name", "fix it"
                    )
            order = fdoc.get("order", "ascending")
            if order not in ("ascending", "descending", "ignore"):
                raise self.fail(
                    fptr + "/order",
                    f"field order {order!r} is not valid",
                    'use "ascending", "descending" or "ignore"',
                )
            ftype = self.node(fdoc["type"], fptr + "/type", space)
            fld = _Field(fname, ftype, fptr, tuple(raw_aliases))
            if "default" in fdoc:
                fld.has_default = True
                fld.default = fdoc["default"]
                self.pending_defaults.append((fld, fptr + "/default"))
            rec.fields.append(fld)
            rec.by_name[fname] = fld
            for token in (fname, *raw_aliases):
                other = alias_owner.get(token)
                if other is not None and other != fname:
                    raise self.fail(
                        fptr,
                        f"fields {other!r} and {fname!r} of record {fullname} both answer to {token!r}",
                        "a field name or alias may belong to one field only",
                    )
                alias_owner[token] = fname
        return rec

    def enum(self, doc: dict[str, Any], ptr: str, ns: str) -> _Node:
        fullname, _space, aliases = self.named(doc, ptr, ns)
        symbols = doc.get("symbols")
        if not isinstance(symbols, list):
            raise self.fail(ptr, f'enum {fullname} needs a "symbols" array', 'add "symbols": [...]')
        seen: set[str] = set()
        for i, sym in enumerate(symbols):
            if not isinstance(sym, str) or not _NAME_RE.match(sym):
                raise self.fail(
                    f"{ptr}/symbols/{i}", f"enum symbol {sym!r} is not a valid Avro name", "fix it"
                )
            if sym in seen:
                raise self.fail(
                    f"{ptr}/symbols/{i}", f"enum {fullname} has symbol {sym!r} twice", "remove one"
                )
            seen.add(sym)
        node = _Enum(fullname, aliases, ptr, tuple(symbols))
        if "default" in doc:
            default = doc["default"]
            if default not in seen:
                raise self.fail(
                    ptr + "/default",
                    f"enum {fullname} default {default!r} is not one of its symbols",
                    "use one of the symbols as the enum default",
                )
            node.default = default
        self.names[fullname] = node
        return node

    def fixed(self, doc: dict[str, Any], ptr: str, ns: str) -> _Node:
        fullname, _space, aliases = self.named(doc, ptr, ns)
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise self.fail(ptr + "/size", f'fixed {fullname} needs a non-negative integer "size"', "fix it")
        node = _Fixed(fullname, aliases, ptr, size)
        self.names[fullname] = node
        return self.logical(doc, ptr, node, "fixed")

    def logical(self, doc: dict[str, Any], ptr: str, node: _Node, base: str) -> _Node:
        lt = doc.get("logicalType")
        if lt is None:
            return node
        lptr = ptr + "/logicalType"
        if not isinstance(lt, str):
            raise self.fail(lptr, '"logicalType" must be a string', "fix it")
        node.logical = lt
        self.logical_types.add(lt)
        bases = _LOGICAL_BASES.get(lt)
        if bases is None:
            return node  # custom logical types are legal; readers ignore them
        if base not in bases:
            raise self.fail(
                lptr,
                f"logicalType {lt!r} needs an underlying {' or '.join(bases)} type, not {base}",
                f'use {{"type": "{bases[0]}", "logicalType": "{lt}"}}',
            )
        size = node.size if isinstance(node, _Fixed) else None
        if lt == "duration" and size != 12:
            raise self.fail(lptr, "logicalType 'duration' needs a fixed of size 12", "set size 12")
        if lt == "uuid" and base == "fixed" and size != 16:
            raise self.fail(lptr, "logicalType 'uuid' on fixed needs size 16", "set size 16")
        if lt == "decimal":
            precision, scale = doc.get("precision"), doc.get("scale", 0)
            if not isinstance(precision, int) or isinstance(precision, bool) or precision < 1:
                raise self.fail(
                    ptr, 'decimal needs a positive integer "precision"', 'add e.g. "precision": 12'
                )
            if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= precision:
                raise self.fail(
                    ptr,
                    f"decimal scale {scale!r} must be an integer from 0 to the precision {precision}",
                    "fix scale",
                )
            if size is not None:
                max_digits = math.floor(math.log10(2 ** (8 * size - 1) - 1)) if size else 0
                if precision > max_digits:
                    raise self.fail(
                        ptr,
                        f"decimal precision {precision} does not fit in fixed size {size} (max {max_digits})",
                        "raise size or lower precision",
                    )
        return node

    def check_defaults(self) -> None:
        for fld, ptr in self.pending_defaults:
            reason = _default_problem(fld.type, fld.default)
            if reason is not None:
                hint = "make the default match the field's type"
                if isinstance(fld.type, _Union):
                    hint = "a union field's default must match the union's FIRST branch; reorder the union"
                raise self.fail(ptr, f"default of field {fld.name!r} is invalid: {reason}", hint)


def _default_problem(node: _Node, value: Any) -> str | None:
    """Why ``value`` is not a valid JSON default for ``node`` (None when it is)."""
    kind = node.kind
    if kind == "null":
        return None if value is None else f"{value!r} is not null"
    if kind == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    if kind in ("int", "long"):
        lo, hi = _INT_RANGE if kind == "int" else _LONG_RANGE
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return None
        return f"{value!r} is not an {kind}"
    if kind in ("float", "double"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"{value!r} is not a number"
    if kind in ("bytes", "string"):
        if not isinstance(value, str):
            return f"{value!r} is not a string"
        if kind == "bytes" and any(ord(c) > 255 for c in value):
            return "bytes defaults may only use code points 0-255"
        return None
    if isinstance(node, _Enum):
        return None if value in node.symbol_set else f"{value!r} is not a symbol of {node.fullname}"
    if isinstance(node, _Fixed):
        if isinstance(value, str) and len(value) == node.size and all(ord(c) < 256 for c in value):
            return None
        return f"{value!r} is not a {node.size}-byte string"
    if isinstance(node, _Container):
        if node.kind == "array":
            if not isinstance(value, list):
                return f"{value!r} is not an array"
            items: list[Any] = value
        else:
            if not isinstance(value, dict):
                return f"{value!r} is not an object"
            items = list(value.values())
        for item in items:
            reason = _default_problem(node.child, item)
            if reason is not None:
                return reason
        return None
    if isinstance(node, _Union):
        return _default_problem(node.branches[0], value) if node.branches else "empty union"
    if isinstance(node, _Record):
        if not isinstance(value, dict):
            return f"{value!r} is not an object for record {node.fullname}"
        for fld in node.fields:
            if fld.name in value:
                reason = _default_problem(fld.type, value[fld.name])
                if reason is not None:
                    return f"{fld.name}: {reason}"
            elif not fld.has_default:
                return f"{fld.name} is missing"
        return None
    return None  # pragma: no cover - every kind handled above


def _fingerprint(node: _Node, stack: set[int]) -> str | None:
    """Structure that decides resolution (kinds, full names, fields, symbols, sizes).

    None for nodes that reach a recursive type: their equality is left to the walk.
    """
    if node.fp_done:
        return node.fp
    fp: str | None
    if isinstance(node, _Named):
        if id(node) in stack:
            return None
        stack.add(id(node))
        if isinstance(node, _Record):
            parts: list[str] = []
            for fld in node.fields:
                sub = _fingerprint(fld.type, stack)
                if sub is None:
                    parts = []
                    break
                parts.append(f"{fld.name}:{sub}")
            ok = len(parts) == len(node.fields)
            fp = f"r({node.fullname};{','.join(parts)})" if ok else None
        elif isinstance(node, _Enum):
            fp = f"e({node.fullname};{','.join(node.symbols)})"
        else:
            assert isinstance(node, _Fixed)
            fp = f"f({node.fullname};{node.size})"
        stack.discard(id(node))
    elif isinstance(node, _Container):
        sub = _fingerprint(node.child, stack)
        fp = None if sub is None else f"{node.kind[0]}({sub})"
    elif isinstance(node, _Union):
        subs = [_fingerprint(b, stack) for b in node.branches]
        fp = None if None in subs else f"u({','.join(s for s in subs if s is not None)})"
    else:
        fp = node.kind
    if fp is not None and len(fp) > _FP_LIMIT:
        fp = None
    node.fp = fp
    node.fp_done = True
    return fp


def _all_nodes(root: _Node) -> Iterator[_Node]:
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, _Record):
            todo.extend(f.type for f in node.fields)
        elif isinstance(node, _Container):
            todo.append(node.child)
        elif isinstance(node, _Union):
            todo.extend(node.branches)


def parse(document: Any, *, source: str) -> AvroSchema:
    """Validate an Avro schema document (already loaded from JSON) and pre-parse it."""
    parser = _Parser(source)
    root = parser.node(document, "", "")
    parser.check_defaults()
    for node in _all_nodes(root):
        _fingerprint(node, set())
    return AvroSchema(
        document=document,
        source=source,
        root=root,
        names=parser.names,
        logical_types=frozenset(parser.logical_types),
    )
