"""Minimal instances of a compiled JSON Schema, with one value overridden at a path.

A counterexample is the smallest event the writer schema accepts, changed at exactly the
place a diff is about. The builder here makes that event from the writer's node graph;
the caller proves it with the real validators, so the builder may guess: a wrong guess
is caught by the proof and the next candidate is tried.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
from collections.abc import Iterator
from typing import Any

from evtool.formats.jsonschema.diff import Diff, IPath
from evtool.formats.jsonschema.model import TRUE_NODE, Node, canonical
from evtool.formats.jsonschema.patterns import parse_regex

MIN: Any = object()  # leaf sentinel: "the minimal value of the node at the end of the path"

_MAX_DEPTH = 24
_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/x",
    "iri": "https://example.com/x",
    "uri-reference": "https://example.com/x",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "duration": "PT1M",
}
# Values of every JSON type, for places where the writer allowed anything.
POOL: tuple[Any, ...] = (12345.5, "x", 7, True, None, {"unexpected": True}, ["a", 1], "",
                         -1, "z" * 300)
_ATTR = {"allOf": "all_of", "anyOf": "any_of", "oneOf": "one_of"}


class GiveUp(Exception):
    """No instance can be built this way (false schema, runaway recursion)."""


class Builder:
    """Builds minimal instances of one writer schema's nodes.

    Minimal values are memoized per node and shared between the instances built from them;
    `build` copies each container it changes, and the caller copies what it hands out.
    """

    def __init__(self) -> None:
        self.memo: dict[int, Any] = {}

    def min_value(self, node: Node, depth: int = 0) -> Any:
        got = self.memo.get(id(node), _NOBASE)
        if got is not _NOBASE:
            return got
        value = self._min_value(node, depth)
        self.memo[id(node)] = value
        return value

    def _min_value(self, node: Node, depth: int) -> Any:
        if depth > _MAX_DEPTH or node.is_false:
            raise GiveUp
        if node.enum is not None:
            return node.enum[0]
        kind = choose_type(node)
        value: Any = _NOBASE if kind is None else self.typed_min(node, kind, depth)
        for ckind, branches in node.combinators():
            picks = branches if ckind == "allOf" else branches[:1]
            for branch in picks:
                value = _merge(value, self.min_value(branch, depth + 1))
        return "x" if value is _NOBASE else value

    def typed_min(self, node: Node, kind: str, depth: int) -> Any:
        if kind == "null":
            return None
        if kind == "boolean":
            return False
        if kind == "string":
            if node.pattern is None and node.fmt is None and node.min_length is None:
                return "x" if node.max_length is None or node.max_length >= 1 else ""
            return string_samples(node)[0]
        if kind in ("integer", "number"):
            integer = kind == "integer"
            v = _clamp(0.0, node.minimum, node.maximum, node.ex_minimum, node.ex_maximum,
                       integer)
            if node.multiple_of:
                v = math.ceil(v / node.multiple_of) * node.multiple_of
            return _tidy(v)
        if kind == "object":
            return self.min_object(node, depth)
        return self.min_array(node, depth)

    def min_object(self, node: Node, depth: int) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        names = [n for n in node.properties if n in node.required]
        names += sorted(n for n in node.required if n not in node.properties)
        for name in names:
            obj[name] = self.min_value(_child(node, name), depth + 1)
        for name in list(obj):
            for dep in node.dep_required.get(name, ()):
                if dep not in obj:
                    obj[dep] = self.min_value(_child(node, dep), depth + 1)
        if node.min_props and len(obj) < node.min_props:
            for name, child in node.properties.items():
                if len(obj) >= node.min_props:
                    break
                if name not in obj and not child.is_false:
                    obj[name] = self.min_value(child, depth + 1)
            i = 0
            while len(obj) < node.min_props and i < node.min_props:
                name = f"extra{i}"
                i += 1
                if name not in obj and not node.is_closed_to(name):
                    obj[name] = self.min_value(_child(node, name), depth + 1)
        return obj

    def min_array(self, node: Node, depth: int, length: int = 0) -> list[Any]:
        n = max(node.min_items or 0, length)
        out = [self.min_value(_item(node, i), depth + 1) for i in range(n)]
        if node.contains is not None and (node.max_items is None or n < node.max_items):
            out.append(self.min_value(node.contains, depth + 1))
        return out

    def build(self, node: Node, path: IPath, leaf: Any, depth: int = 0) -> Any:
        """The minimal instance of ``node`` with ``leaf`` placed at ``path``."""
        if depth > _MAX_DEPTH:
            raise GiveUp
        if not path:
            return self.min_value(node, depth) if leaf is MIN else leaf
        step, rest = path[0], path[1:]
        kind = step[0]
        if kind == "branch":
            branches: tuple[Node, ...] = getattr(node, _ATTR[step[1]]) or ()
            value = self.build(branches[step[2]], rest, leaf, depth + 1)
            base_kind = choose_type(node)
            base: Any = _NOBASE if base_kind is None else self.typed_min(node, base_kind, depth)
            for ckind, others in node.combinators():
                if ckind == "allOf" and ckind != step[1]:
                    for other in others:
                        base = _merge(base, self.min_value(other, depth + 1))
            return _merge(base, value)
        if kind == "idx":
            arr = list(self.min_array(node, depth, step[1] + 1))
            arr[step[1]] = self.build(_item(node, step[1]), rest, leaf, depth + 1)
            return arr
        obj = self.min_value(node, depth)
        obj = dict(obj) if isinstance(obj, dict) else {}
        if kind == "pattern":
            name = pattern_name(step[1], obj)
            child = node.pattern_props.get(step[1], TRUE_NODE)
        else:
            name = step[1]
            child = _child(node, name)
        obj[name] = self.build(child, rest, leaf, depth + 1)
        for dep in node.dep_required.get(name, ()):
            if dep not in obj:
                obj[dep] = self.min_value(_child(node, dep), depth + 1)
        return obj


_NOBASE: Any = object()


def _merge(base: Any, value: Any) -> Any:
    if base is _NOBASE:
        return value
    if value is _NOBASE:
        return base
    if isinstance(base, dict) and isinstance(value, dict):
        merged = dict(base)
        for key, val in value.items():
            if key in merged and isinstance(merged[key], dict) and isinstance(val, dict):
                merged[key] = _merge(merged[key], val)
            else:
                merged[key] = val
        return merged
    return value


def _child(node: Node, name: str) -> Node:
    found = node.properties.get(name)
    if found is not None:
        return found
    return node.partial(name) or TRUE_NODE


def _item(node: Node, index: int) -> Node:
    if index < len(node.prefix):
        return node.prefix[index]
    return node.rest if node.rest is not None and not node.rest.is_false else TRUE_NODE


def choose_type(node: Node) -> str | None:
    if node.types:
        for kind in _ORDER:
            if kind in node.types:
                return kind
    if node.types is None:
        if (node.properties or node.required or node.additional is not None
                or node.pattern_props or node.min_props):
            return "object"
        if node.prefix or node.rest is not None or node.min_items or node.contains:
            return "array"
        if node.min_length or node.max_length is not None or node.pattern or node.fmt:
            return "string"
        if (node.minimum is not None or node.maximum is not None or node.ex_minimum is not None
                or node.ex_maximum is not None or node.multiple_of is not None):
            return "number"
    return None


# -- strings and numbers --------------------------------------------------------------------


def string_samples(node: Node, lengths: tuple[int, ...] = ()) -> list[str]:
    """Strings the node accepts, the most natural first (never empty)."""
    lo = node.min_length or 0
    hi = node.max_length
    raw: list[str] = []
    if node.pattern is not None:
        raw += regex_samples(node.pattern, lengths or (lo,))
    elif node.fmt in _FORMATS:
        raw.append(_FORMATS[node.fmt])
    for n in (*lengths, max(lo, 1) if hi is None or hi >= 1 else 0, lo):
        raw.append("x" * n)
    good = [s for s in raw if _string_ok(node, s)]
    return _unique(good) or raw[:1]


def _string_ok(node: Node, text: str) -> bool:
    if node.min_length is not None and len(text) < node.min_length:
        return False
    if node.max_length is not None and len(text) > node.max_length:
        return False
    return node.pattern is None or re.search(node.pattern, text) is not None


def number_samples(node: Node, *, integer: bool) -> list[int | float]:
    """Numbers the node probably accepts, the one nearest zero first."""
    lo, hi, elo, ehi, mult = (node.minimum, node.maximum, node.ex_minimum, node.ex_maximum,
                              node.multiple_of)
    picks: list[float] = [0.0]
    if lo is not None:
        picks.append(lo)
    if hi is not None:
        picks.append(hi)
    if elo is not None:
        picks.append(elo + (1 if integer else 0.5))
    if ehi is not None:
        picks.append(ehi - (1 if integer else 0.5))
    picks += [1.0, -1.0, 0.5, 1e9, -1e9]
    out: list[int | float] = []
    for pick in picks:
        v = _clamp(pick, lo, hi, elo, ehi, integer)
        if mult:
            v = math.ceil(v / mult) * mult
        out.append(_tidy(v))
    return _unique(out)


def _clamp(v: float, lo: float | None, hi: float | None, elo: float | None, ehi: float | None,
           integer: bool) -> float:
    if lo is not None and v < lo:
        v = lo
    if elo is not None and v <= elo:
        v = elo + 1 if integer or ehi is None or ehi > elo + 1 else (elo + ehi) / 2
    if hi is not None and v > hi:
        v = hi
    if ehi is not None and v >= ehi:
        v = ehi - 1 if integer or elo is None or ehi - 1 > elo else (elo + ehi) / 2
    if integer and not float(v).is_integer():
        v = math.ceil(v) if (hi is None or math.ceil(v) <= hi) else math.floor(v)
    return v


def _tidy(v: float) -> int | float:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        key = canonical(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


# -- regular expressions --------------------------------------------------------------------


def regex_samples(pattern: str, lengths: tuple[int, ...] = (0,)) -> list[str]:
    """A few strings that match ``pattern`` (fewest repetitions first)."""
    try:
        tree = parse_regex(pattern)
    except Exception:  # an engine we cannot read: fall back to plain guesses
        return []
    out: list[str] = []
    for extra in (0, 1, 4, *(max(0, n) for n in lengths)):
        for alt in (0, 1):
            try:
                text = _gen(tree, extra, alt, {})
            except (ValueError, IndexError, RecursionError, TypeError):
                continue
            if re.search(pattern, text) is not None:
                out.append(text)
    return _unique(out)


_CATEGORY = {
    "CATEGORY_DIGIT": "0", "CATEGORY_NOT_DIGIT": "a", "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "-", "CATEGORY_SPACE": " ", "CATEGORY_NOT_SPACE": "a",
}


def _gen(items: Any, extra: int, alt: int, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if chr(arg) != "a" else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_gen_in(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = arg
            count = lo + extra
            if str(hi) != "MAXREPEAT":
                count = min(count, hi)
            out.append("".join(_gen(sub, extra, alt, groups) for _ in range(count)))
        elif name == "SUBPATTERN":
            group, _, _, sub = arg
            text = _gen(sub, extra, alt, groups)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif name == "BRANCH":
            options = arg[1]
            out.append(_gen(options[min(alt, len(options) - 1)], extra, alt, groups))
        elif name == "GROUPREF":
            out.append(groups.get(arg, ""))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        elif name == "ATOMIC_GROUP":
            out.append(_gen(arg, extra, alt, groups))
        else:
            raise ValueError(name)
    return "".join(out)


def _gen_in(items: Any) -> str:
    negate = any(str(op) == "NEGATE" for op, _ in items)
    if negate:
        for ch in "xaA0_-zZ9 ":
            if not any(_in_item(op, arg, ch) for op, arg in items if str(op) != "NEGATE"):
                return ch
        raise ValueError("negated class")
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            return chr(arg[0])
        if name == "CATEGORY":
            return _CATEGORY.get(str(arg), "a")
    raise ValueError("class")


def _in_item(op: Any, arg: Any, ch: str) -> bool:
    name = str(op)
    if name == "LITERAL":
        return chr(arg) == ch
    if name == "RANGE":
        return bool(arg[0] <= ord(ch) <= arg[1])
    if name == "CATEGORY":
        probe = {"CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_WORD": r"\w",
                 "CATEGORY_NOT_WORD": r"\W", "CATEGORY_SPACE": r"\s",
                 "CATEGORY_NOT_SPACE": r"\S"}.get(str(arg), ".")
        return re.fullmatch(probe, ch) is not None
    return False


def pattern_name(regex: str, taken: dict[str, Any]) -> str:
    for name in regex_samples(regex, (1, 3)):
        if name not in taken:
            return name
    return "x"


# -- candidates for one diff ----------------------------------------------------------------


def candidates(diff: Diff, builder: Builder) -> Iterator[tuple[IPath, Any]]:
    """(path, leaf) pairs to try, the most targeted first."""
    ip, w, r, hint, detail = diff.ipath, diff.w, diff.r, diff.hint, diff.detail
    if hint == "type":
        for t in detail:
            try:
                yield ip, builder.typed_min(w, t, 0)
            except GiveUp:
                continue
            if t == "number":
                for v in number_samples(w, integer=False):
                    yield ip, v + 0.5 if float(v).is_integer() else v
    elif hint == "any":
        for v in POOL:
            yield ip, v
    elif hint == "enum":
        rk = r.enum_keys or frozenset()
        if w.enum is not None:
            for v in w.enum:
                if canonical(v) not in rk:
                    yield ip, v
        else:
            for v in [*string_samples(w), "zz-not-allowed", *number_samples(w, integer=True),
                      *POOL]:
                if canonical(v) not in rk:
                    yield ip, v
    elif hint == "pattern":
        texts = string_samples(w, (1, 2, 5, 9)) if w.pattern else [
            "x", "", "0", "A", "x-1", "abc", "ZZZ", " ", "#", *string_samples(w)]
        for text in texts:
            if r.pattern is None or re.search(r.pattern, text) is None:
                yield ip, text
    elif hint == "bound":
        yield from _bound_candidates(diff, builder)
    elif hint == "multiple":
        integer = w.types is not None and "number" not in w.types
        for v in (w.multiple_of or 1, 1, 3, 7, 0.5, 11):
            if not integer or float(v).is_integer():
                yield ip, _tidy(v)
    elif hint in ("prop", "dep"):
        yield (*ip, ("prop", detail)), MIN
    elif hint == "prop-any":
        for v in POOL:
            yield (*ip, ("prop", detail)), v
    elif hint == "pattern-any":
        for v in POOL:
            yield (*ip, ("pattern", detail)), v
    elif hint == "extra":
        name = "unexpectedProperty"
        while name in r.properties or (r.partial(name) is not None and r.additional is None):
            name += "_"
        yield (*ip, ("extra", name)), MIN
        for v in POOL:
            yield (*ip, ("extra", name)), v
    elif hint in ("idx", "idx-w"):
        yield (*ip, ("idx", detail, True)), MIN
    elif hint == "idx-any":
        for v in POOL:
            yield (*ip, ("idx", detail, True)), v
    elif hint == "unique":
        try:
            item = builder.min_value(_item(w, 0))
            yield ip, [item, copy.deepcopy(item)]
        except GiveUp:
            pass
    elif hint == "not" and r.not_ is not None:
        # Values the new 'not' forbids: its enum, or a minimal value of what it describes.
        yield from ((ip, v) for v in (r.not_.enum or ()))
        with contextlib.suppress(GiveUp):
            yield ip, Builder().min_value(r.not_)
    elif hint == "branches":
        kind, indexes, first = detail
        if first is not None:
            yield from candidates(first, builder)
        for i in indexes:
            yield (*ip, ("branch", kind, i)), MIN
    yield ip, MIN


def _bound_candidates(diff: Diff, builder: Builder) -> Iterator[tuple[IPath, Any]]:
    ip, w, r, key = diff.ipath, diff.w, diff.r, diff.detail
    integer = w.types is not None and "number" not in w.types and "integer" in w.types
    if key in ("maxLength", "minLength"):
        target = [r.max_length + 1] if key == "maxLength" and r.max_length is not None else []
        if key == "minLength" and r.min_length:
            target = [r.min_length - 1, w.min_length or 0]
        for text in string_samples(w, tuple(int(t) for t in target)):
            if (key == "maxLength" and len(text) > (r.max_length or 0)) or (
                key == "minLength" and len(text) < (r.min_length or 0)
            ):
                yield ip, text
        return
    if key in ("maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"):
        bound = {"maximum": r.maximum, "exclusiveMaximum": r.ex_maximum,
                 "minimum": r.minimum, "exclusiveMinimum": r.ex_minimum}[key]
        if bound is None:
            return
        step = 1 if integer else 0.5
        up = key in ("maximum", "exclusiveMaximum")
        tries = [bound + step, bound] if up else [bound - step, bound]
        tries += [b for b in (w.maximum, w.ex_maximum) if b is not None] if up else [
            b for b in (w.minimum, w.ex_minimum) if b is not None]
        tries.append(1e9 if up else -1e9)
        for t in tries:
            yield ip, _tidy(math.ceil(t) if integer and up else math.floor(t) if integer else t)
        return
    if key in ("maxItems", "minItems"):
        n = (r.max_items or 0) + 1 if key == "maxItems" else max((r.min_items or 1) - 1,
                                                                  w.min_items or 0)
        try:
            yield ip, builder.min_array(w, 0, n)[:n] if key == "minItems" else builder.min_array(
                w, 0, n)
        except GiveUp:
            return
        return
    if key == "maxProperties":
        try:
            obj = builder.min_object(w, 0)
        except GiveUp:
            return
        for name, child in w.properties.items():
            if len(obj) > (r.max_props or 0):
                break
            if name not in obj and not child.is_false:
                try:
                    obj[name] = builder.min_value(child)
                except GiveUp:
                    continue
        i = 0
        while len(obj) <= (r.max_props or 0) and i < 64:
            if not w.is_closed_to(f"extra{i}"):
                obj[f"extra{i}"] = "x"
            i += 1
        yield ip, obj


def fill_required(value: Any, node: Node, builder: Builder, skip: tuple[tuple[Any, ...], str] | None,
                  at: tuple[Any, ...] = (), depth: int = 0) -> Any:
    """``value`` with every property ``node`` (the reader) requires and it lacks added.

    A witness built from the writer alone also trips every *other* new requirement of the
    reader, so its proof would quote the wrong change; filling them in leaves only the
    finding's own. ``skip`` is the (instance path, name) the finding itself is about.
    The caller re-checks the result with the writer: a fill the writer rejects is dropped.
    """
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        out = dict(value)
        names = [n for n in node.properties if n in node.required]
        names += sorted(n for n in node.required if n not in node.properties)
        for name in names:
            if name not in out and (skip is None or skip != (at, name)):
                with contextlib.suppress(GiveUp):
                    out[name] = copy.deepcopy(builder.min_value(_child(node, name)))
        for name in list(out):
            out[name] = fill_required(out[name], _child(node, name), builder, skip,
                                      (*at, name), depth + 1)
        value = out
    elif isinstance(value, list):
        value = [fill_required(item, _item(node, i), builder, skip, (*at, i), depth + 1)
                 for i, item in enumerate(value)]
    for branch in node.all_of or ():
        value = fill_required(value, branch, builder, skip, at, depth + 1)
    return value


def instance_path(path: IPath) -> tuple[Any, ...]:
    """The JSON instance path a builder path leads to (branches are not steps of the data);
    ``None`` stands for "any item" or "any matching name"."""
    out: list[Any] = []
    for step in path:
        if step[0] in ("prop", "extra"):
            out.append(step[1])
        elif step[0] == "pattern":
            out.append(None)
        elif step[0] == "idx":
            out.append(step[1] if step[2] else None)
    return tuple(out)
