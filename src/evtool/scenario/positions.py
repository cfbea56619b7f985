"""Where each key of a TOML file is: `tomllib` keeps no positions, so the text is scanned for them.

Only what an error message needs: the line of every `key = value`, `[table]` and `[[array]]`
header, by its path (`("arrival", "stages", 1, "rate")` for the second `[[arrival.stages]]`).
Values are skipped (strings, multi-line strings and arrays that span lines), so a `=` or a
`[` inside a value is never taken for a key. The file has already parsed (tomllib), so the
scanner can trust the syntax and stay small.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PathKey = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


class KeyLines:
    """Line numbers (1-based) of the keys of one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[PathKey, int] = {}
        self._scan(text)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, else of its nearest enclosing key or table found (an item of an inline
        array is reported at its array's line); None when nothing of it is in the text."""
        key = tuple(path)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return None

    def _scan(self, text: str) -> None:
        table: PathKey = ()
        arrays: dict[PathKey, int] = {}
        lines = text.splitlines()
        number = 0
        while number < len(lines):
            line = lines[number]
            number += 1
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("[["):
                names = _keys(stripped[2:], "]]")
                if names is None:
                    continue
                index = arrays.get(tuple(names), -1) + 1
                arrays[tuple(names)] = index
                table = (*_resolve(tuple(names), arrays), index)
                self._lines.setdefault(table[:-1], number)
                self._lines[table] = number
                continue
            if stripped.startswith("["):
                names = _keys(stripped[1:], "]")
                if names is None:
                    continue
                table = _resolve(tuple(names), arrays)
                self._lines[table] = number
                continue
            names = _keys(stripped, "=")
            if names is None:
                continue
            key = table + tuple(names)
            for depth in range(len(table) + 1, len(key) + 1):  # dotted keys: each level at this line
                self._lines.setdefault(key[:depth], number)
            # skip the value's continuation lines (multi-line strings and arrays)
            value = stripped.split("=", 1)[1] if "=" in stripped else ""
            items: dict[int, int] = {}
            number = _skip_value(value, lines, number, items)
            for index, item_line in items.items():
                self._lines.setdefault((*key, index), item_line)


def _resolve(names: PathKey, arrays: dict[PathKey, int]) -> PathKey:
    """`[a.b]` inside the latest `[[a]]` is a.<index>.b: insert the indices of enclosing arrays."""
    out: PathKey = ()
    plain: PathKey = ()
    for name in names:
        out += (name,)
        plain += (name,)
        if plain in arrays and plain != names:
            out += (arrays[plain],)
    return out


def _keys(text: str, end: str) -> list[str] | None:
    """The dotted key at the start of `text`, up to `end` (`=`, `]`, `]]`); None if it is not one."""
    names: list[str] = []
    at = 0
    while True:
        while at < len(text) and text[at] in " \t":
            at += 1
        if at >= len(text):
            return None
        if text[at] in "\"'":
            quote = text[at]
            close = at + 1
            while close < len(text) and text[close] != quote:
                close += 2 if quote == '"' and text[close] == "\\" else 1
            if close >= len(text):
                return None
            raw = text[at + 1 : close]
            names.append(raw.encode().decode("unicode_escape") if quote == '"' and "\\" in raw else raw)
            at = close + 1
        else:
            match = _BARE.match(text, at)
            if not match:
                return None
            names.append(match.group())
            at = match.end()
        while at < len(text) and text[at] in " \t":
            at += 1
        if text.startswith(end, at):
            return names
        if at < len(text) and text[at] == ".":
            at += 1
            continue
        return None


def _skip_value(value: str, lines: list[str], number: int, items: dict[int, int]) -> int:
    """The index of the line after the value that starts with `value` (on line `number`); the line of
    each item of an array value goes into `items` (item index -> line)."""
    scan = _ValueScan(items)
    scan.feed(value, number)
    while (scan.depth > 0 or scan.multiline) and number < len(lines):
        scan.feed(lines[number], number + 1)
        number += 1
    return number


class _ValueScan:
    """Bracket depth outside strings and comments, line by line; the open multi-line quote, if any;
    where each item of a top-level array starts."""

    def __init__(self, items: dict[int, int]) -> None:
        self.depth = 0
        self.multiline: str | None = None
        self.items = items
        self.array = False  # the value is an array
        self.expect_item = False  # the next token at depth 1 starts an item

    def feed(self, text: str, line: int) -> None:
        at = 0
        while at < len(text):
            if self.multiline is not None:
                close = text.find(self.multiline, at)
                if close < 0:
                    return
                at = close + 3
                self.multiline = None
                continue
            char = text[at]
            if char == "#":
                return
            if self.depth == 1 and self.array and self.expect_item and char not in " \t]":
                self.items[len(self.items)] = line
                self.expect_item = False
            if text.startswith('"""', at) or text.startswith("'''", at):
                self.multiline = text[at : at + 3]
                at += 3
                continue
            if char in "\"'":
                close = at + 1
                while close < len(text) and text[close] != char:
                    close += 2 if char == '"' and text[close] == "\\" else 1
                at = close + 1
                continue
            if char in "[{":
                if self.depth == 0 and char == "[":
                    self.array = self.expect_item = True
                self.depth += 1
            elif char in "]}":
                self.depth -= 1
            elif char == "," and self.depth == 1:
                self.expect_item = True
            at += 1
