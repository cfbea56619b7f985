"""A JSON Schema document compiled once into a graph of `Node`s the diff can walk fast.

Every keyword the compatibility rules look at is read here, once, into slots; local
``$ref``s are resolved into shared nodes (so a recursive schema is a cyclic graph, not an
infinite tree); and each node gets two fingerprints -- one of its meaning, one including
its annotations -- so that the diff skips identical subtrees with one comparison instead
of walking them. Nodes on a reference cycle get no fingerprint and are always walked
(the diff guards those walks with a set of pairs in progress).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import unquote

import orjson

from evtool.errors import SchemaError

# Keywords that never change which instances are valid.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "$id",
        "id",
        "$schema",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
        "contentMediaType",
        "contentEncoding",
        "definitions",
        "$defs",
    }
)
COMBINATORS = ("allOf", "anyOf", "oneOf")
# Validation keywords that are not about one node's own value (so not its "base").
_NOT_BASE = frozenset({*COMBINATORS, "$ref", "not", "if", "then", "else"})
# Every validation keyword evtool understands; anything else (vendor extensions) is ignored.
CONSTRAINTS = frozenset(
    {
        *_NOT_BASE, "type", "enum", "const", "minLength", "maxLength", "pattern", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "properties",
        "required", "additionalProperties", "patternProperties", "minProperties",
        "maxProperties", "dependencies", "dependentRequired", "dependentSchemas",
        "propertyNames", "unevaluatedProperties", "items", "prefixItems", "additionalItems",
        "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains",
        "unevaluatedItems",
    }
)

DRAFT4, DRAFT6, DRAFT7, DRAFT2019, DRAFT2020 = 4, 6, 7, 2019, 2020
_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def json_type(value: Any) -> str:
    """The JSON type of a Python value from json.loads (1.0 counts as an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def canonical(value: Any) -> bytes:
    """One byte string per JSON value under JSON equality (true != 1, 1 == 1.0)."""
    return orjson.dumps(_canon(value), option=orjson.OPT_SORT_KEYS)


def _canon(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    return value


class Node:
    """One (resolved) subschema. ``ptr`` is where it lives in its document."""

    __slots__ = (
        "additional",
        "all_of",
        "annotations",
        "any_of",
        "base_empty",
        "cond",
        "contains",
        "dep_required",
        "dep_schemas",
        "enum",
        "enum_keys",
        "ex_maximum",
        "ex_minimum",
        "fmt",
        "full_fp",
        "has_default",
        "is_const",
        "is_false",
        "is_true",
        "max_contains",
        "max_items",
        "max_length",
        "max_props",
        "maximum",
        "min_contains",
        "min_items",
        "min_length",
        "min_props",
        "minimum",
        "multiple_of",
        "not_",
        "one_of",
        "pattern",
        "pattern_props",
        "prefix",
        "properties",
        "property_names",
        "ptr",
        "raw",
        "required",
        "rest",
        "sem_fp",
        "types",
        "unevaluated",
        "unique",
    )

    def __init__(self, ptr: str, raw: Any) -> None:
        self.ptr = ptr
        self.raw = raw
        self.is_false = raw is False
        self.is_true = False
        self.base_empty = True
        self.types: frozenset[str] | None = None
        self.enum: tuple[Any, ...] | None = None
        self.enum_keys: frozenset[bytes] | None = None
        self.is_const = False
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.pattern: str | None = None
        self.fmt: str | None = None
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.ex_minimum: float | None = None
        self.ex_maximum: float | None = None
        self.multiple_of: float | None = None
        self.properties: dict[str, Node] = {}
        self.required: frozenset[str] = frozenset()
        self.additional: Node | None = None  # None: absent or true (open)
        self.pattern_props: dict[str, Node] = {}
        self.min_props: int | None = None
        self.max_props: int | None = None
        self.dep_required: dict[str, frozenset[str]] = {}
        self.dep_schemas: dict[str, Node] = {}
        self.property_names: Node | None = None
        self.unevaluated: Node | None = None
        self.prefix: tuple[Node, ...] = ()
        self.rest: Node | None = None  # items after the prefix; None: absent (open)
        self.min_items: int | None = None
        self.max_items: int | None = None
        self.unique = False
        self.contains: Node | None = None
        self.min_contains: int | None = None
        self.max_contains: int | None = None
        self.all_of: tuple[Node, ...] | None = None
        self.any_of: tuple[Node, ...] | None = None
        self.one_of: tuple[Node, ...] | None = None
        self.not_: Node | None = None
        self.cond: tuple[Node | None, Node | None, Node | None] | None = None
        self.annotations: dict[str, Any] = {}
        self.has_default = False
        self.sem_fp: bytes | None = None
        self.full_fp: bytes | None = None

    def combinators(self) -> list[tuple[str, tuple[Node, ...]]]:
        out: list[tuple[str, tuple[Node, ...]]] = []
        if self.all_of is not None:
            out.append(("allOf", self.all_of))
        if self.any_of is not None:
            out.append(("anyOf", self.any_of))
        if self.one_of is not None:
            out.append(("oneOf", self.one_of))
        return out

    def pure_combined(self) -> tuple[str, tuple[Node, ...]] | None:
        """(kind, branches) when the node is nothing but one allOf/anyOf/oneOf."""
        if not self.base_empty or self.not_ is not None or self.cond is not None:
            return None
        combos = self.combinators()
        return combos[0] if len(combos) == 1 else None

    def allows(self, category: str) -> bool:
        """Whether instances of a JSON type category can be valid here (by `type` alone)."""
        if self.types is None:
            return True
        if category == "number":
            return "number" in self.types or "integer" in self.types
        return category in self.types

    def partial(self, name: str) -> Node | None:
        """The schema a property not listed in ``properties`` must match; None if open/closed."""
        for regex, node in self.pattern_props.items():
            if _search(regex, name):
                return node
        if self.additional is not None and not self.additional.is_false:
            return self.additional
        return None

    def is_open(self) -> bool:
        return self.additional is None and not self.pattern_props

    def is_closed_to(self, name: str) -> bool:
        if self.additional is None or not self.additional.is_false:
            return False
        return not any(_search(regex, name) for regex in self.pattern_props)


def _search(regex: str, text: str) -> bool:
    try:
        return re.search(regex, text) is not None
    except re.error:
        return False


TRUE_NODE = Node("", True)
TRUE_NODE.is_true = True
TRUE_NODE.sem_fp = TRUE_NODE.full_fp = b"true"


class Compiler:
    """Builds the node graph of one document; raises SchemaError for refs it cannot use."""

    def __init__(self, document: Any, *, source: str, draft: int) -> None:
        self.document = document
        self.source = source
        self.draft = draft
        self.nodes: dict[str, Node] = {}
        self.anchors: dict[str, str] = {}
        self.root_id = ""
        if isinstance(document, dict):
            rid = document.get("$id", document.get("id")) if draft >= DRAFT6 else document.get("id")
            if isinstance(rid, str):
                self.root_id = rid.split("#", 1)[0]
            self._scan_anchors(document, "")

    # -- references ---------------------------------------------------------------------

    def _scan_anchors(self, raw: Any, ptr: str) -> None:
        if isinstance(raw, dict):
            anchor = raw.get("$anchor")
            if isinstance(anchor, str):
                self.anchors[anchor] = ptr
            ident = raw.get("$id")
            if isinstance(ident, str) and ident.startswith("#") and len(ident) > 1:
                self.anchors[ident[1:]] = ptr
            for key, value in raw.items():
                if key in ("enum", "const", "default", "examples"):
                    continue
                if isinstance(value, dict | list):
                    self._scan_anchors(value, f"{ptr}/{escape(key)}")
        elif isinstance(raw, list):
            for i, value in enumerate(raw):
                if isinstance(value, dict | list):
                    self._scan_anchors(value, f"{ptr}/{i}")

    def _ref_target(self, ref: str, at: str) -> str:
        """The JSON pointer a local $ref points to."""
        where = at.rsplit("/", 1)[0] or "/"
        if not ref.startswith("#"):
            base, _, frag = ref.partition("#")
            if not (self.root_id and base == self.root_id):
                raise SchemaError(
                    f"{self.source}: remote $ref {ref!r} at {where} is not supported",
                    hint="inline the definition under $defs and reference it as #/$defs/…",
                    pointer=at,
                )
            ref = "#" + frag
        frag = unquote(ref[1:])
        if frag and not frag.startswith("/"):
            if frag in self.anchors:
                return self.anchors[frag]
            raise SchemaError(
                f"{self.source}: $ref {ref!r} at {where} names an anchor that does not exist",
                hint="define the anchor with $anchor, or use a JSON pointer such as #/$defs/…",
                pointer=at,
            )
        if self._lookup(frag) is _MISSING:
            raise SchemaError(
                f"{self.source}: $ref {ref!r} at {where} points to nothing in this document",
                hint="check the spelling of the definition name and its container "
                "(definitions or $defs)",
                pointer=at,
            )
        return frag

    def _lookup(self, ptr: str) -> Any:
        value = self.document
        if not ptr:
            return value
        for raw_token in ptr[1:].split("/"):
            token = raw_token.replace("~1", "/").replace("~0", "~")
            if isinstance(value, dict) and token in value:
                value = value[token]
            elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            else:
                return _MISSING
        return value

    # -- compile ------------------------------------------------------------------------

    def compile_root(self) -> Node:
        root = self.node("")
        # Definitions nobody references still must hold usable refs.
        if isinstance(self.document, dict):
            for key in ("definitions", "$defs"):
                defs = self.document.get(key)
                if isinstance(defs, dict):
                    for name in defs:
                        self.node(f"/{key}/{escape(name)}")
        return root

    def node(self, ptr: str) -> Node:
        """The node for the subschema at ``ptr`` (following $ref chains), compiled once."""
        seen: list[str] = []
        while True:
            got = self.nodes.get(ptr)
            if got is not None:
                for p in seen:
                    self.nodes[p] = got
                return got
            raw = self._lookup(ptr)
            ref = raw.get("$ref") if isinstance(raw, dict) else None
            if isinstance(ref, str) and self._ref_replaces(raw):
                if ptr in seen:
                    raise SchemaError(
                        f"{self.source}: $ref at {ptr or '/'} refers to itself without "
                        "ever reaching a schema",
                        hint="point the $ref at a definition that is a schema",
                        pointer=f"{ptr}/$ref",
                    )
                seen.append(ptr)
                ptr = self._ref_target(ref, f"{ptr}/$ref")
                continue
            node = Node(ptr, raw)
            self.nodes[ptr] = node
            for p in seen:
                self.nodes[p] = node
            self._fill(node, raw)
            return node

    def _ref_replaces(self, raw: dict[str, Any]) -> bool:
        """Before 2019-09 a $ref ignores its siblings; later, only annotation siblings."""
        if self.draft < DRAFT2019:
            return True
        return all(k == "$ref" or k not in CONSTRAINTS for k in raw)

    def _fill(self, node: Node, raw: Any) -> None:
        ptr = node.ptr
        if raw is True:
            node.is_true = True
            return
        if not isinstance(raw, dict):
            return
        constraint_keys = [k for k in raw if k in CONSTRAINTS]
        node.base_empty = all(k in _NOT_BASE for k in constraint_keys)
        node.is_true = not constraint_keys
        for key in ("title", "description", "default", "examples", "$id", "id", "$comment",
                    "deprecated", "readOnly", "writeOnly", "format"):
            if key in raw:
                node.annotations[key] = raw[key]
        node.has_default = "default" in raw
        fmt = raw.get("format")
        node.fmt = fmt if isinstance(fmt, str) else None

        typ = raw.get("type")
        if isinstance(typ, str):
            node.types = frozenset({typ})
        elif isinstance(typ, list):
            node.types = frozenset(t for t in typ if isinstance(t, str))
        if node.types is not None and "number" in node.types and "integer" in node.types:
            node.types = node.types - {"integer"}
        if "const" in raw:
            node.enum = (raw["const"],)
            node.is_const = True
        elif isinstance(raw.get("enum"), list):
            node.enum = tuple(raw["enum"])
        if node.enum is not None:
            node.enum_keys = frozenset(canonical(v) for v in node.enum)

        node.min_length = _positive(raw.get("minLength"))
        node.max_length = _number(raw.get("maxLength"))  # type: ignore[assignment]
        pattern = raw.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise SchemaError(
                    f"{self.source}: pattern {pattern!r} at {ptr or '/'} is not a valid "
                    f"regular expression ({exc})",
                    hint="fix the regular expression",
                    pointer=f"{ptr}/pattern",
                ) from None
            node.pattern = pattern

        node.minimum = _number(raw.get("minimum"))
        node.maximum = _number(raw.get("maximum"))
        exmin, exmax = raw.get("exclusiveMinimum"), raw.get("exclusiveMaximum")
        if isinstance(exmin, bool):  # draft-04: a flag on minimum
            if exmin:
                node.ex_minimum, node.minimum = node.minimum, None
        else:
            node.ex_minimum = _number(exmin)
        if isinstance(exmax, bool):
            if exmax:
                node.ex_maximum, node.maximum = node.maximum, None
        else:
            node.ex_maximum = _number(exmax)
        node.multiple_of = _number(raw.get("multipleOf"))

        props = raw.get("properties")
        if isinstance(props, dict):
            node.properties = {
                name: self.node(f"{ptr}/properties/{escape(name)}") for name in props
            }
        req = raw.get("required")
        if isinstance(req, list):
            node.required = frozenset(r for r in req if isinstance(r, str))
        if "additionalProperties" in raw:
            add = self.node(f"{ptr}/additionalProperties")
            node.additional = None if add.is_true else add
        pprops = raw.get("patternProperties")
        if isinstance(pprops, dict):
            node.pattern_props = {
                regex: self.node(f"{ptr}/patternProperties/{escape(regex)}") for regex in pprops
            }
        node.min_props = _positive(raw.get("minProperties"))
        node.max_props = _number(raw.get("maxProperties"))  # type: ignore[assignment]
        deps: dict[str, Any] = {}
        if isinstance(raw.get("dependencies"), dict):
            deps.update((k, ("dependencies", v)) for k, v in raw["dependencies"].items())
        if isinstance(raw.get("dependentRequired"), dict):
            deps.update((k, ("dependentRequired", v)) for k, v in raw["dependentRequired"].items())
        if isinstance(raw.get("dependentSchemas"), dict):
            deps.update((k, ("dependentSchemas", v)) for k, v in raw["dependentSchemas"].items())
        for name, (container, value) in deps.items():
            if isinstance(value, list):
                node.dep_required[name] = frozenset(v for v in value if isinstance(v, str))
            else:
                node.dep_schemas[name] = self.node(f"{ptr}/{container}/{escape(name)}")
        if "propertyNames" in raw:
            node.property_names = self.node(f"{ptr}/propertyNames")
        if "unevaluatedProperties" in raw:
            node.unevaluated = self.node(f"{ptr}/unevaluatedProperties")

        items = raw.get("items")
        if isinstance(raw.get("prefixItems"), list):
            node.prefix = tuple(
                self.node(f"{ptr}/prefixItems/{i}") for i in range(len(raw["prefixItems"]))
            )
            if "items" in raw:
                node.rest = self.node(f"{ptr}/items")
        elif isinstance(items, list):
            node.prefix = tuple(self.node(f"{ptr}/items/{i}") for i in range(len(items)))
            if "additionalItems" in raw:
                node.rest = self.node(f"{ptr}/additionalItems")
        elif "items" in raw:
            node.rest = self.node(f"{ptr}/items")
        if node.rest is not None and node.rest.is_true:
            node.rest = None
        node.min_items = _positive(raw.get("minItems"))
        node.max_items = _number(raw.get("maxItems"))  # type: ignore[assignment]
        node.unique = raw.get("uniqueItems") is True
        if "contains" in raw:
            node.contains = self.node(f"{ptr}/contains")
        node.min_contains = _number(raw.get("minContains"))  # type: ignore[assignment]
        node.max_contains = _number(raw.get("maxContains"))  # type: ignore[assignment]

        for key in COMBINATORS:
            branches = raw.get(key)
            if isinstance(branches, list):
                setattr(node, _ATTR[key],
                        tuple(self.node(f"{ptr}/{key}/{i}") for i in range(len(branches))))
        if "not" in raw:
            node.not_ = self.node(f"{ptr}/not")
        if any(k in raw for k in ("if", "then", "else")):
            node.cond = tuple(  # type: ignore[assignment]
                self.node(f"{ptr}/{k}") if k in raw else None for k in ("if", "then", "else")
            )
        if isinstance(raw.get("$ref"), str):
            # 2019-09+: a $ref with constraint siblings is one more conjunct.
            target = self.node(self._ref_target(raw["$ref"], f"{ptr}/$ref"))
            node.all_of = (*(node.all_of or ()), target)
        for key in ("definitions", "$defs"):
            defs = raw.get(key)
            if ptr and isinstance(defs, dict):
                for name in defs:
                    self.node(f"{ptr}/{key}/{escape(name)}")


_ATTR = {"allOf": "all_of", "anyOf": "any_of", "oneOf": "one_of"}
_MISSING = object()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _positive(value: Any) -> int | None:
    """minLength/minItems/minProperties: 0 constrains nothing, so it is the same as absent."""
    number = _number(value)
    return None if not number else int(number)


# -- fingerprints ---------------------------------------------------------------------------


def fingerprint(root: Node, nodes: list[Node]) -> None:
    """Give every node not on a reference cycle its two fingerprints (bottom-up)."""
    state: dict[int, int] = {}  # 1: on the stack, 2: done
    for node in [root, *nodes]:
        _fp(node, state)


def _children(node: Node) -> list[Node]:
    kids: list[Node] = [*node.properties.values(), *node.pattern_props.values(),
                        *node.dep_schemas.values(), *node.prefix]
    for single in (node.additional, node.property_names, node.unevaluated, node.rest,
                   node.contains, node.not_):
        if single is not None:
            kids.append(single)
    for _, branches in node.combinators():
        kids.extend(branches)
    if node.cond is not None:
        kids.extend(c for c in node.cond if c is not None)
    return kids


def _fp(node: Node, state: dict[int, int]) -> bool:
    """Compute fingerprints; False when the node reaches a cycle (fingerprints stay None)."""
    key = id(node)
    mark = state.get(key)
    if mark == 1:
        return False
    if mark == 2:
        return node.sem_fp is not None
    if node.is_true or node.is_false:
        node.sem_fp = b"true" if not node.is_false else b"false"
        node.full_fp = node.sem_fp + canonical(node.annotations)
        state[key] = 2
        return True
    state[key] = 1
    ok = True
    for kid in _children(node):
        ok = _fp(kid, state) and ok
    state[key] = 2
    if not ok:
        return False
    sem = _describe(node)
    node.sem_fp = hashlib.blake2b(orjson.dumps(sem, option=orjson.OPT_SORT_KEYS),
                                  digest_size=16).digest()
    full = [node.sem_fp.hex(), _canon(node.annotations), _full_children(node)]
    node.full_fp = hashlib.blake2b(orjson.dumps(full, option=orjson.OPT_SORT_KEYS),
                                   digest_size=16).digest()
    return True


def _h(node: Node | None) -> str | None:
    return None if node is None or node.sem_fp is None else node.sem_fp.hex()


def _hf(node: Node | None) -> str | None:
    return None if node is None or node.full_fp is None else node.full_fp.hex()


def _describe(node: Node) -> list[Any]:
    return [
        sorted(node.types) if node.types is not None else None,
        sorted(k.decode() for k in node.enum_keys) if node.enum_keys is not None else None,
        node.is_const,
        node.min_length, node.max_length, node.pattern,
        node.minimum, node.maximum, node.ex_minimum, node.ex_maximum, node.multiple_of,
        {k: _h(v) for k, v in node.properties.items()},
        sorted(node.required),
        _h(node.additional),
        {k: _h(v) for k, v in node.pattern_props.items()},
        node.min_props, node.max_props,
        {k: sorted(v) for k, v in node.dep_required.items()},
        {k: _h(v) for k, v in node.dep_schemas.items()},
        _h(node.property_names), _h(node.unevaluated),
        [_h(p) for p in node.prefix], _h(node.rest),
        node.min_items, node.max_items, node.unique,
        _h(node.contains), node.min_contains, node.max_contains,
        [[k, [_h(b) for b in bs]] for k, bs in node.combinators()],
        _h(node.not_),
        [_h(c) for c in node.cond] if node.cond is not None else None,
        node.has_default,
    ]


def _full_children(node: Node) -> list[Any]:
    return [_hf(k) for k in _children(node)] + sorted(node.properties)
