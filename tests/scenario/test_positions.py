"""The line of each key in a TOML text (tomllib keeps none): tables, arrays of tables, dotted and
quoted keys, and values that look like keys (an `=` in a string, a `[` in a multi-line array)."""

from __future__ import annotations

import tomllib

from evtool.scenario.positions import KeyLines

TEXT = '''\
# a comment with key = value
name = "x = y"                     # line 2
[target]                           # line 3
url = "http://h/p?a=[1]"           # line 4
"max_in_flight" = 10               # line 5
headers.X-Tenant = "demo"          # line 6

[target.kafka]                     # line 8
"linger.ms" = 20                   # line 9
compression.type = "lz4"           # line 10

[arrival]                          # line 12
stages = [                         # line 13
  { duration = "5s", rate = "1/s" },
  "rate = 3",
]
duration = """
count = 9
"""                                # line 19 (line 18 is a string that looks like a key)
count = 5                          # line 20

[[objectives.extra]]               # line 22
slo = "a"                          # line 23
[[objectives.extra]]               # line 24
slo = "b"                          # line 25
[objectives.extra.more]            # line 26
deep = 1                           # line 27
'''


def test_text_is_valid_toml() -> None:
    tomllib.loads(TEXT)  # the scanner may trust the syntax only because the file parsed


def test_lines_of_plain_quoted_and_dotted_keys() -> None:
    lines = KeyLines(TEXT)
    assert lines.line_of(["name"]) == 2
    assert lines.line_of(["target"]) == 3
    assert lines.line_of(["target", "url"]) == 4
    assert lines.line_of(["target", "max_in_flight"]) == 5
    assert lines.line_of(["target", "headers"]) == 6
    assert lines.line_of(["target", "headers", "X-Tenant"]) == 6
    assert lines.line_of(["target", "kafka"]) == 8
    assert lines.line_of(["target", "kafka", "linger.ms"]) == 9
    assert lines.line_of(["target", "kafka", "compression", "type"]) == 10


def test_values_spanning_lines_are_skipped() -> None:
    lines = KeyLines(TEXT)
    assert lines.line_of(["arrival", "stages"]) == 13
    assert lines.line_of(["arrival", "stages", 0]) == 14  # the items of an array spanning lines
    assert lines.line_of(["arrival", "stages", 1]) == 15
    assert lines.line_of(["arrival", "stages", 2]) == 13  # no such item: the array's line
    assert lines.line_of(["arrival", "duration"]) == 17
    assert lines.line_of(["arrival", "count"]) == 20  # not 18, the look-alike inside the string


def test_arrays_of_tables_are_numbered() -> None:
    lines = KeyLines(TEXT)
    assert lines.line_of(["objectives", "extra", 0, "slo"]) == 23
    assert lines.line_of(["objectives", "extra", 1, "slo"]) == 25
    assert lines.line_of(["objectives", "extra", 1, "more", "deep"]) == 27


def test_unknown_path_falls_back_to_its_enclosing_table() -> None:
    lines = KeyLines(TEXT)
    assert lines.line_of(["target", "nope"]) == 3
    assert lines.line_of(["nowhere"]) is None
