"""Durations and rates as users write them on the command line: `500ms`, `1m30s`, `500/s`.

A leaf module, so the load generator, the report's objectives and every command read
`2s` the same way.
"""

from __future__ import annotations

import re

from evtool.errors import UsageError

NS_PER_UNIT: dict[str, int] = {
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
DURATION_PATTERN = r"(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)"  # one number and its unit

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)")
_BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hr))?\s*$")
_SECONDS_PER = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}


def parse_duration_ns(text: str, *, option: str = "--duration") -> int:
    """`500ms`, `30s`, `2m`, `1h`, `1m30s`, `250us` (or a bare number of seconds) to nanoseconds."""
    cleaned = text.strip().lower().replace(" ", "")
    if _BARE_NUMBER.fullmatch(cleaned):
        return round(float(cleaned) * NS_PER_UNIT["s"])
    parts = _DURATION_PART.findall(cleaned)
    if not parts or "".join(amount + unit for amount, unit in parts) != cleaned:
        raise UsageError(f"{option} {text!r}: expected a duration such as 500ms, 30s, 2m, 1h or 1m30s")
    return sum(round(float(amount) * NS_PER_UNIT[unit]) for amount, unit in parts)


def parse_duration(text: str, *, option: str = "--duration") -> float:
    """The same, in seconds."""
    return parse_duration_ns(text, option=option) / NS_PER_UNIT["s"]


def parse_rate(text: str, *, option: str = "--rate") -> float:
    """`500/s`, `30/m`, `100/h` (or a bare number, per second) to events per second."""
    match = _RATE.match(text)
    if not match:
        raise UsageError(f"{option} {text!r}: expected a rate such as 500/s, 30/m or 100/h")
    return float(match.group(1)) / _SECONDS_PER[match.group(2) or "s"]
