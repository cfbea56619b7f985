"""Reading schema text: JSON with file/line/column errors, and JSON pointers back to lines.

Findings must name the line of the field they are about, and the json module forgets
positions. So `line_of_pointer` walks the text along the pointer only, skipping every
sibling value with the C decoder: cheap enough to run for every finding of a large check.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evtool.errors import SchemaError

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


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


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def line_of_pointer(text: str, pointer: str) -> int | None:
    """1-based line of `pointer` in JSON `text`: an object member's key, an array element.

    A pointer that does not exist (a field only the other schema has) gets the line of its
    nearest existing ancestor; text that is not valid JSON gets None.
    """
    tokens = [_unescape(t) for t in pointer.split("/")[1:]] if pointer else []
    try:
        pos = _skip(text, 0)
        found = pos
        for token in tokens:
            if text[pos] == "{":
                member = _find_member(text, pos, token)
                if member is None:
                    break
                found, pos = member
            elif text[pos] == "[" and token.isdigit():
                element = _find_element(text, pos, int(token))
                if element is None:
                    break
                found = pos = element
            else:
                break
    except (ValueError, IndexError):
        return None
    return text.count("\n", 0, found) + 1


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def _find_member(text: str, pos: int, wanted: str) -> tuple[int, int] | None:
    """(position of the key, position of its value) in the object at `pos`."""
    pos = _skip(text, pos + 1)
    if text[pos] == "}":
        return None
    while True:
        key_pos = pos
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, _skip(text, pos) + 1)  # past the colon
        if key == wanted:
            return key_pos, pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == "}":
            return None
        pos = _skip(text, pos + 1)


def _find_element(text: str, pos: int, wanted: int) -> int | None:
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return None
    index = 0
    while True:
        if index == wanted:
            return pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == "]":
            return None
        pos = _skip(text, pos + 1)
        index += 1
