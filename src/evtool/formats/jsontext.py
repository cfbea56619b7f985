"""Reading schema text: JSON with file/line/column errors, and JSON pointers back to lines.

Findings must name the line of the field they are about, and the json module forgets
positions. So `line_of_pointer` walks the text along the pointer only, skipping every
sibling value with the C decoder: cheap enough to run for every finding of a large check.

A schema file is refused, with its line, when it repeats a key in one object (json keeps the
last one silently, which can hide a breaking change from review) or nests deeper than
`MAX_DEPTH` (the engines recurse per level; past a few hundred levels Python runs out of
stack and a check would crash instead of answering).
"""

from __future__ import annotations

import json
import re
from typing import Any

from evtool.errors import SchemaError

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Strings (skipped whole, so brackets and colons inside them are not structure) and brackets.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

_CONTAINERS = (dict, list)

MAX_DEPTH = 100
"""Objects and arrays inside one another, counting the outermost. Real schemas stay far below
(ten levels of nested records is about 40 in Avro, 21 in JSON Schema). At the limit the
engines' deepest path (chains of JSON Schema `items`) uses about 550 of Python's 1,000 stack
frames for `schema check` and `schema diff`; at 128 it was 700, and near 218 it fails."""


class _DuplicateKey(Exception):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


def parse_json_text(text: str, *, source: str) -> Any:
    """The document in `text`; SchemaError (file:line) for bad syntax, repeated keys, deep nesting."""
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint="fix the syntax at that line",
        ) from None
    except _DuplicateKey:
        raise _duplicate_key_error(text, source) from None
    except RecursionError:
        raise _too_deep_error(text, source) from None
    # Brackets inside strings only raise the count, so a low count proves a shallow document
    # without walking it (true of nearly every real schema: the walk costs as much as the parse).
    if text.count("{") + text.count("[") > MAX_DEPTH and _deeper_than(document, MAX_DEPTH):
        raise _too_deep_error(text, source)
    return document


def _deeper_than(document: Any, limit: int) -> bool:
    """Level by level, without recursion (the document may be deeper than the stack allows)."""
    level = [document] if type(document) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for value in level:
            children = value.values() if type(value) is dict else value
            below.extend(c for c in children if type(c) in _CONTAINERS)
        level = below
    return False


def _too_deep_error(text: str, source: str) -> SchemaError:
    depth = 0
    where = ""
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                where = f":{text.count(chr(10), 0, match.start()) + 1}"
                break
        elif token in "]}":
            depth -= 1
    return SchemaError(
        f"{source}{where}: nested too deep (more than {MAX_DEPTH} levels of objects and arrays)",
        hint="flatten it: name the inner types (Avro) or move them to $defs and $ref them (JSON Schema)",
    )


def _duplicate_key_error(text: str, source: str) -> SchemaError:
    """Only on the error path: find the first repeated key in text order, with its line."""
    objects: list[dict[str, int] | None] = []  # per open bracket: key -> offset; None for an array
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == "{":
            objects.append({})
        elif token == "[":
            objects.append(None)
        elif token in "]}":
            objects.pop()
        elif objects and objects[-1] is not None:
            after = _skip(text, match.end())
            if after < len(text) and text[after] == ":":
                key = json.loads(token)
                first = objects[-1].get(key)
                if first is not None:
                    line = text.count("\n", 0, match.start()) + 1
                    return SchemaError(
                        f"{source}:{line}: duplicate key {key!r} (also at line "
                        f"{text.count(chr(10), 0, first) + 1} of the same object)",
                        hint="JSON parsers keep only the last of repeated keys, so the earlier one is "
                        "silently dropped: keep one",
                    )
                objects[-1][key] = match.start()
    return SchemaError(f"{source}: duplicate key in one object", hint="keep one of each key")


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
