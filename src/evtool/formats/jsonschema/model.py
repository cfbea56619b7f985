"""A JSON Schema document compiled once into a graph of `Node`s the diff can walk fast.

Every keyword the compatibility rules look at is read here, once, into attributes; local
``$ref``s are resolved into shared nodes (so a recursive schema is a cyclic graph, not an
infinite tree). A node whose subtree holds no ``$ref`` (and no boolean enum value, which
Python would compare equal to 1) is "plain": two plain nodes with equal raw JSON mean the
same, so the diff skips them with one C-speed ``==`` instead of walking them.
"""

from __future__ import annotations

import json
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


def canonical(value: Any) -> Any:
    """A hashable key per JSON value under JSON equality (true != 1, 1 == 1.0)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:
        return ("n", value)  # ("n", 1) == ("n", 1.0), as JSON wants
    if kind is bool or value is None:
        return ("b", value)
    return dumps(_canon(value), sort=True)


def dumps(value: Any, *, sort: bool = False) -> bytes:
    """orjson, falling back to the json module for what orjson refuses (huge integers)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort else 0)
    except TypeError:
        return json.dumps(value, sort_keys=sort, default=str).encode()


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


_MISSING_ARG: Any = object()


class Node:
    """One (resolved) subschema. ``ptr`` is where it lives in its document.

    Defaults live on the class so compiling a small leaf schema sets only what it has.
    """

    is_true = False
    base_empty = True
    types: frozenset[str] | None = None
    enum: tuple[Any, ...] | None = None
    enum_keys: frozenset[Any] | None = None
    is_const = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    fmt: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    ex_minimum: float | None = None
    ex_maximum: float | None = None
    multiple_of: float | None = None
    properties: dict[str, Node] = {}  # noqa: RUF012 - never mutated, only replaced
    required: frozenset[str] = frozenset()
    additional: Node | None = None  # None: absent or true (open)
    pattern_props: dict[str, Node] = {}  # noqa: RUF012
    min_props: int | None = None
    max_props: int | None = None
    dep_required: dict[str, frozenset[str]] = {}  # noqa: RUF012
    dep_schemas: dict[str, Node] = {}  # noqa: RUF012
    property_names: Node | None = None
    unevaluated: Node | None = None
    prefix: tuple[Node, ...] = ()
    rest: Node | None = None  # items after the prefix; None: absent (open)
    min_items: int | None = None
    max_items: int | None = None
    unique = False
    contains: Node | None = None
    min_contains: int | None = None
    max_contains: int | None = None
    all_of: tuple[Node, ...] | None = None
    any_of: tuple[Node, ...] | None = None
    one_of: tuple[Node, ...] | None = None
    not_: Node | None = None
    cond: tuple[Node | None, Node | None, Node | None] | None = None
    annotations: dict[str, Any] = {}  # noqa: RUF012
    has_default = False
    plain = True  # no $ref below: raw equality is meaning equality

    def __init__(self, ptr: str, raw: Any) -> None:
        self.ptr = ptr
        self.raw = raw
        self.is_false = raw is False

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
        rest = self.unlisted
        if rest is not None and not rest.is_false:
            return rest
        return None

    @property
    def unlisted(self) -> Node | None:
        """What a property not in ``properties`` must match: additionalProperties, else (2020-12)
        unevaluatedProperties, which then sees the same properties; None when neither is there."""
        if self.additional is not None:
            return self.additional
        if self.unevaluated is not None and not self.unevaluated.is_true:
            return self.unevaluated
        return None

    def is_open(self) -> bool:
        return self.unlisted is None and not self.pattern_props

    def is_closed_to(self, name: str) -> bool:
        rest = self.unlisted
        if rest is None or not rest.is_false:
            return False
        return not any(_search(regex, name) for regex in self.pattern_props)


def _search(regex: str, text: str) -> bool:
    try:
        return re.search(regex, text) is not None
    except re.error:
        return False


TRUE_NODE = Node("", True)
TRUE_NODE.is_true = True


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
        self._anchors_scanned = False
        self.opaque = 0  # grows whenever a $ref (or a tricky enum) is met while compiling

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
            if not self._anchors_scanned:
                self._anchors_scanned = True
                self._scan_anchors(self.document, "")
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

    def node(self, ptr: str, raw: Any = _MISSING_ARG) -> Node:
        """The node for the subschema at ``ptr`` (following $ref chains), compiled once.

        Callers that hold the subschema pass it as ``raw`` to spare a lookup from the root.
        """
        seen: list[str] = []
        while True:
            got = self.nodes.get(ptr)
            if got is not None:
                for p in seen:
                    self.nodes[p] = got
                return got
            if raw is _MISSING_ARG:
                raw = self._lookup(ptr)
            if type(raw) is dict and "$ref" in raw:
                ref = raw["$ref"]
                if isinstance(ref, str) and self._ref_replaces(raw):
                    if ptr in seen:
                        raise SchemaError(
                            f"{self.source}: $ref at {ptr or '/'} refers to itself without "
                            "ever reaching a schema",
                            hint="point the $ref at a definition that is a schema",
                            pointer=f"{ptr}/$ref",
                        )
                    seen.append(ptr)
                    self.opaque += 1
                    ptr = self._ref_target(ref, f"{ptr}/$ref")
                    raw = _MISSING_ARG
                    continue
            node = Node(ptr, raw)
            self.nodes[ptr] = node
            for p in seen:
                self.nodes[p] = node
            before = self.opaque
            self._fill(node, raw)
            if self.opaque != before:
                node.plain = False
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
        mask = 0
        base = False
        for key in raw:
            bits = _GROUP.get(key)
            if bits is None:
                continue  # unknown keyword: ignored, as JSON Schema says
            mask |= bits
            if bits & _CONSTRAINT and not bits & _NON_BASE:
                base = True
        if not mask & _CONSTRAINT:
            node.is_true = True
        node.base_empty = not base
        if mask & _ANNOTATION:
            node.annotations = {k: raw[k] for k in _ANNOTATION_KEYS_ORDER if k in raw}
            node.has_default = "default" in raw
            fmt = raw.get("format")
            node.fmt = fmt if isinstance(fmt, str) else None

        if "type" in raw:
            typ = raw["type"]
            if isinstance(typ, str):
                node.types = frozenset((typ,))
            elif isinstance(typ, list):
                types = frozenset(t for t in typ if isinstance(t, str))
                node.types = types - {"integer"} if "number" in types else types
        if "const" in raw:
            node.enum = (raw["const"],)
            node.is_const = True
        elif isinstance(raw.get("enum"), list):
            node.enum = tuple(raw["enum"])
        if node.enum is not None:
            node.enum_keys = frozenset(canonical(v) for v in node.enum)
            if any(isinstance(v, bool | float | dict | list) for v in node.enum):
                self.opaque += 1

        if mask & _STRING:
            self._fill_string(node, raw)
        if mask & _NUMBER:
            self._fill_number(node, raw)
        if mask & _OBJECT:
            self._fill_object(node, raw)
        if mask & _ARRAY:
            self._fill_array(node, raw)
        if mask & _LOGIC:
            self._fill_logic(node, raw)
        if ptr and mask & _DEFS:
            for key in ("definitions", "$defs"):
                defs = raw.get(key)
                if isinstance(defs, dict):
                    for name in defs:
                        self.node(f"{ptr}/{key}/{escape(name)}")

    def _fill_string(self, node: Node, raw: dict[str, Any]) -> None:
        node.min_length = _positive(raw.get("minLength"))
        node.max_length = _number(raw.get("maxLength"))  # type: ignore[assignment]
        pattern = raw.get("pattern")
        if isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise SchemaError(
                    f"{self.source}: pattern {pattern!r} at {node.ptr or '/'} is not a valid "
                    f"regular expression ({exc})",
                    hint="fix the regular expression",
                    pointer=f"{node.ptr}/pattern",
                ) from None
            node.pattern = pattern

    def _fill_number(self, node: Node, raw: dict[str, Any]) -> None:
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

    def _fill_object(self, node: Node, raw: dict[str, Any]) -> None:
        ptr = node.ptr
        props = raw.get("properties")
        if isinstance(props, dict):
            node.properties = {
                name: self.node(f"{ptr}/properties/{escape(name)}", sub)
                for name, sub in props.items()
            }
        req = raw.get("required")
        if isinstance(req, list):
            node.required = frozenset(r for r in req if isinstance(r, str))
        if "additionalProperties" in raw:
            add = self.node(f"{ptr}/additionalProperties", raw["additionalProperties"])
            node.additional = None if add.is_true else add
        pprops = raw.get("patternProperties")
        if isinstance(pprops, dict):
            node.pattern_props = {
                regex: self.node(f"{ptr}/patternProperties/{escape(regex)}", sub)
                for regex, sub in pprops.items()
            }
        node.min_props = _positive(raw.get("minProperties"))
        node.max_props = _number(raw.get("maxProperties"))  # type: ignore[assignment]
        deps: dict[str, Any] = {}
        for container in ("dependencies", "dependentRequired", "dependentSchemas"):
            if isinstance(raw.get(container), dict):
                deps.update((k, (container, v)) for k, v in raw[container].items())
        if deps:
            dep_required: dict[str, frozenset[str]] = {}
            dep_schemas: dict[str, Node] = {}
            for name, (container, value) in deps.items():
                if isinstance(value, list):
                    dep_required[name] = frozenset(v for v in value if isinstance(v, str))
                else:
                    dep_schemas[name] = self.node(f"{ptr}/{container}/{escape(name)}")
            node.dep_required, node.dep_schemas = dep_required, dep_schemas
        if "propertyNames" in raw:
            node.property_names = self.node(f"{ptr}/propertyNames")
        if "unevaluatedProperties" in raw:
            node.unevaluated = self.node(f"{ptr}/unevaluatedProperties")

    def _fill_array(self, node: Node, raw: dict[str, Any]) -> None:
        ptr = node.ptr
        items = raw.get("items")
        if isinstance(raw.get("prefixItems"), list):
            node.prefix = tuple(
                self.node(f"{ptr}/prefixItems/{i}") for i in range(len(raw["prefixItems"]))
            )
            if "items" in raw:
                node.rest = self.node(f"{ptr}/items")
        elif isinstance(items, list):
            node.prefix = tuple(self.node(f"{ptr}/items/{i}", sub) for i, sub in enumerate(items))
            if "additionalItems" in raw:
                node.rest = self.node(f"{ptr}/additionalItems")
        elif "items" in raw:
            node.rest = self.node(f"{ptr}/items", items)
        if node.rest is None and "unevaluatedItems" in raw:
            # no items/additionalItems beyond the tuple: unevaluatedItems (2020-12) governs them
            node.rest = self.node(f"{ptr}/unevaluatedItems")
        if node.rest is not None and node.rest.is_true:
            node.rest = None
        node.min_items = _positive(raw.get("minItems"))
        node.max_items = _number(raw.get("maxItems"))  # type: ignore[assignment]
        node.unique = raw.get("uniqueItems") is True
        if "contains" in raw:
            node.contains = self.node(f"{ptr}/contains")
        node.min_contains = _number(raw.get("minContains"))  # type: ignore[assignment]
        node.max_contains = _number(raw.get("maxContains"))  # type: ignore[assignment]

    def _fill_logic(self, node: Node, raw: dict[str, Any]) -> None:
        ptr = node.ptr
        for key in COMBINATORS:
            branches = raw.get(key)
            if isinstance(branches, list):
                setattr(node, _ATTR[key],
                        tuple(self.node(f"{ptr}/{key}/{i}", b) for i, b in enumerate(branches)))
        if "not" in raw:
            node.not_ = self.node(f"{ptr}/not")
        if any(k in raw for k in ("if", "then", "else")):
            node.cond = tuple(  # type: ignore[assignment]
                self.node(f"{ptr}/{k}") if k in raw else None for k in ("if", "then", "else")
            )
        if isinstance(raw.get("$ref"), str):
            # 2019-09+: a $ref with constraint siblings is one more conjunct.
            self.opaque += 1
            target = self.node(self._ref_target(raw["$ref"], f"{ptr}/$ref"))
            node.all_of = (*(node.all_of or ()), target)


_ANNOTATION_KEYS_ORDER = ("title", "description", "default", "examples", "$id", "id",
                          "$comment", "deprecated", "readOnly", "writeOnly", "format")
_STRING_KEYS = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                          "multipleOf"})
_OBJECT_KEYS = frozenset({"properties", "required", "additionalProperties",
                          "patternProperties", "minProperties", "maxProperties",
                          "dependencies", "dependentRequired", "dependentSchemas",
                          "propertyNames", "unevaluatedProperties"})
_ARRAY_KEYS = frozenset({"items", "prefixItems", "additionalItems", "minItems", "maxItems",
                         "uniqueItems", "contains", "minContains", "maxContains"})
_LOGIC_KEYS = frozenset({*COMBINATORS, "not", "if", "then", "else", "$ref"})
_DEFS_KEYS = frozenset({"definitions", "$defs"})
(_CONSTRAINT, _NON_BASE, _ANNOTATION, _STRING, _NUMBER, _OBJECT, _ARRAY, _LOGIC,
 _DEFS) = (1 << i for i in range(9))


def _groups() -> dict[str, int]:
    """Keyword -> bit set of the groups it belongs to, for one pass over a schema's keys."""
    table: dict[str, int] = {}
    for keys, bits in (
        (CONSTRAINTS, _CONSTRAINT), (_NOT_BASE, _NON_BASE),
        (frozenset(_ANNOTATION_KEYS_ORDER), _ANNOTATION), (_STRING_KEYS, _STRING),
        (_NUMBER_KEYS, _NUMBER), (_OBJECT_KEYS, _OBJECT), (_ARRAY_KEYS, _ARRAY),
        (_LOGIC_KEYS, _LOGIC), (_DEFS_KEYS, _DEFS),
    ):
        for key in keys:
            table[key] = table.get(key, 0) | bits
    return table


_GROUP = _groups()
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
