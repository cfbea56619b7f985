"""Reading schema text: JSON with file/line/column errors, and JSON pointers back to lines.

Findings must name the line of the field they are about; the json module forgets positions,
so a small scanner walks the text once and records where each pointer starts.
"""

from __future__ import annotations

import json
from typing import Any

from evtool.errors import SchemaError

_WHITESPACE = " \t\r\n"


def parse_json_text(text: str, *, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint="fix the syntax at that line",
        ) from None


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_lines(text: str) -> dict[str, int]:
    """Map every JSON pointer in `text` (already known to be valid JSON) to its 1-based line.

    For an object member the line is the key's; for an array element, the element's.
    """
    lines: dict[str, int] = {}
    scanner = _Scanner(text)
    scanner.value("", lines)
    return lines


def line_of_pointer(text: str, pointer: str) -> int | None:
    """The line of `pointer`, or of its nearest existing ancestor (a removed field's parent)."""
    lines = pointer_lines(text)
    candidate = pointer
    while True:
        if candidate in lines:
            return lines[candidate]
        if not candidate:
            return None
        candidate = candidate.rsplit("/", 1)[0]


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1

    def skip(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WHITESPACE:
            if text[pos] == "\n":
                self.line += 1
            pos += 1
        self.pos = pos

    def value(self, pointer: str, lines: dict[str, int], line: int | None = None) -> None:
        self.skip()
        lines.setdefault(pointer, line or self.line)
        char = self.text[self.pos]
        if char == "{":
            self.pos += 1
            self.skip()
            if self.text[self.pos] == "}":
                self.pos += 1
                return
            while True:
                self.skip()
                key_line = self.line
                key = self.string()
                self.skip()
                self.pos += 1  # the colon
                self.value(f"{pointer}/{escape_pointer_token(key)}", lines, key_line)
                self.skip()
                char = self.text[self.pos]
                self.pos += 1
                if char == "}":
                    return
        elif char == "[":
            self.pos += 1
            self.skip()
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            index = 0
            while True:
                self.value(f"{pointer}/{index}", lines)
                index += 1
                self.skip()
                char = self.text[self.pos]
                self.pos += 1
                if char == "]":
                    return
        elif char == '"':
            self.string()
        else:
            end = self.pos
            while end < len(self.text) and self.text[end] not in ",]}" + _WHITESPACE:
                end += 1
            self.pos = end

    def string(self) -> str:
        decoder = json.JSONDecoder()
        start = self.pos
        result, end = decoder.raw_decode(self.text, start)
        self.line += self.text.count("\n", start, end)
        self.pos = end
        return str(result)
