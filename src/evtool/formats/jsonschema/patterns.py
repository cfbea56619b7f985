"""Strings that match a regular expression (JSON Schema `pattern`), from Python's own regex parser.

Written here rather than taken from `rstr`/`exrex` because neither is a dependency and what we
need is small: walk the parse tree `re` already builds, compile it once into closures, then draw
from a seeded RNG. Unbounded repeats are capped a few past their minimum; lookarounds and
backreference conditionals are generated loosely and checked with `re.search`, retried, and
reported as a SchemaError if they cannot be met — never an endless loop.
"""

from __future__ import annotations

import random
import re
import re._constants as _c  # type: ignore[import-not-found]  # the parser `re` itself uses
import re._parser as _p  # type: ignore[import-not-found]
from collections.abc import Callable
from typing import Any

from evtool.errors import SchemaError

_Emit = Callable[[random.Random, list[str], dict[int, str]], None]
Generate = Callable[[random.Random], str]

_PRINTABLE = [chr(c) for c in range(32, 127)]
_DIGITS = "0123456789"
_WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SPACE = " "
_CATEGORIES: dict[Any, str] = {
    _c.CATEGORY_DIGIT: _DIGITS,
    _c.CATEGORY_WORD: _WORD,
    _c.CATEGORY_SPACE: " \t\n",
    _c.CATEGORY_NOT_DIGIT: _LETTERS + "-_ ",
    _c.CATEGORY_NOT_WORD: " -.,:;!",
    _c.CATEGORY_NOT_SPACE: _WORD + "-.",
}
_UNBOUNDED_EXTRA = 4  # how far past its minimum an unbounded repeat may go
_RETRIES = 64


def parse_regex(pattern: str) -> Any:
    """The parse tree `re` itself builds for `pattern`: the one place evtool reads CPython's private
    regex parser (the witness builder's sampler uses this too), so a Python that changes it breaks
    one function. Raises re.error for a bad pattern."""
    return _p.parse(pattern)


def compile_pattern(pattern: str, *, pointer: str = "") -> Generate:
    """A function drawing strings that `re.search(pattern, s)` accepts; SchemaError if it cannot."""
    try:
        regex = re.compile(pattern)
        tree = parse_regex(pattern)
    except re.error as exc:
        raise SchemaError(
            f"pattern {pattern!r} at {pointer or '/'} is not a valid regular expression: {exc}",
            pointer=pointer,
        ) from None
    state = _State(pattern, pointer)
    emit = state.sequence(list(tree))
    search = regex.search

    def once(rng: random.Random) -> str:
        out: list[str] = []
        emit(rng, out, {})
        return "".join(out)

    if not state.loose:
        return once

    def checked(rng: random.Random) -> str:
        for _ in range(_RETRIES):
            text = once(rng)
            if search(text):
                return text
        raise SchemaError(
            f"cannot generate a string matching pattern {pattern!r} at {pointer or '/'}",
            pointer=pointer,
            hint="simplify the lookarounds/conditionals in the pattern",
        )

    checked(random.Random(0))  # fail at compile time, not mid-stream
    return checked


class _State:
    def __init__(self, pattern: str, pointer: str) -> None:
        self.pattern = pattern
        self.pointer = pointer
        self.loose = False  # True when parts are generated without guarantee (lookarounds)

    def fail(self, what: str) -> SchemaError:
        return SchemaError(
            f"pattern {self.pattern!r} at {self.pointer or '/'}: {what} cannot be generated",
            pointer=self.pointer,
        )

    def sequence(self, items: list[tuple[Any, Any]]) -> _Emit:
        parts = [e for e in (self.node(op, av) for op, av in items) if e is not None]
        if len(parts) == 1:
            return parts[0]

        def run(rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
            for part in parts:
                part(rng, out, groups)

        return run

    def node(self, op: Any, av: Any) -> _Emit | None:
        if op is _c.LITERAL:
            char = chr(av)
            return lambda rng, out, groups: out.append(char)
        if op is _c.NOT_LITERAL:
            return self.chars([c for c in _PRINTABLE if c != chr(av)])
        if op is _c.ANY:
            return self.chars(_WORD)
        if op is _c.IN:
            return self.chars(self.char_set(av))
        if op is _c.AT:
            return None
        if op is _c.BRANCH:
            alternatives = [self.sequence(list(branch)) for branch in av[1]]
            return lambda rng, out, groups: rng.choice(alternatives)(rng, out, groups)
        if op is _c.SUBPATTERN:
            group, body = av[0], self.sequence(list(av[3]))
            if group is None:
                return body

            def capture(rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
                start = len(out)
                body(rng, out, groups)
                groups[group] = "".join(out[start:])

            return capture
        if op is getattr(_c, "ATOMIC_GROUP", None):
            return self.sequence(list(av))
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            return self.repeat(av)
        if op is _c.GROUPREF:
            return lambda rng, out, groups: out.append(groups.get(av, ""))
        if op in (_c.ASSERT, _c.ASSERT_NOT):
            self.loose = True
            return None
        if op is _c.GROUPREF_EXISTS:
            self.loose = True
            _, yes, no = av
            return self.sequence(list(no)) if no else self.sequence(list(yes))
        raise self.fail(str(op))

    def repeat(self, av: Any) -> _Emit:
        low, high, body_items = av
        if high is _c.MAXREPEAT:
            high = low + _UNBOUNDED_EXTRA
        items = list(body_items)
        if len(items) == 1 and items[0][0] is _c.IN:
            alphabet = self.char_set(items[0][1])
            if low == high:
                return lambda rng, out, groups: out.append("".join(rng.choices(alphabet, k=low)))
            return lambda rng, out, groups: out.append(
                "".join(rng.choices(alphabet, k=rng.randint(low, high)))
            )
        body = self.sequence(items)

        def run(rng: random.Random, out: list[str], groups: dict[int, str]) -> None:
            for _ in range(low if low == high else rng.randint(low, high)):
                body(rng, out, groups)

        return run

    def chars(self, alphabet: str | list[str]) -> _Emit:
        pool = list(alphabet)
        return lambda rng, out, groups: out.append(rng.choice(pool))

    def char_set(self, items: Any) -> list[str]:
        negate = False
        chosen: set[str] = set()
        for op, av in items:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                chosen.add(chr(av))
            elif op is _c.RANGE:
                low, high = av
                if negate:
                    chosen.update(chr(c) for c in range(low, min(high, 0x2FFF) + 1))
                else:
                    chosen.update(chr(c) for c in range(low, min(high, low + 4096) + 1))
            elif op is _c.CATEGORY:
                chosen.update(_CATEGORIES.get(av, _WORD))
            else:
                raise self.fail(f"character class item {op}")
        result = [c for c in _PRINTABLE if c not in chosen] if negate else sorted(chosen)
        if not result:
            raise self.fail("an empty character class")
        return result
