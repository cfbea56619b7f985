"""Read a scenario file (TOML) into a `Scenario`, or fail with `file:line: key: what is wrong — what to do`.

Each value is checked by the parser of the option it stands for (rates, durations, stages,
mixes, objectives, headers, Kafka properties), so a file accepts exactly what the command
line accepts. Unknown keys are refused with the closest known one, because a misspelt key
silently ignored would run a different test than the one written down. Secrets never sit in
the file: a header or Kafka property that carries one must be an `env:VAR` reference.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from evtool import units
from evtool.errors import EvtoolError, UsageError
from evtool.scenario.model import TABLES, TOP_KEYS, Kind, Scenario
from evtool.scenario.positions import KeyLines

_TARGET_SCHEMES = ("http://", "https://", "kafka://", "file:")
_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key|auth", re.IGNORECASE)
_SECRET_PROPERTY = re.compile(r"password|secret|jaas", re.IGNORECASE)


class ScenarioError(UsageError):
    """A scenario file evtool cannot use; the message is the whole line (file:line: key: ... — ...)."""


class _Bad(Exception):
    """A value's problem, before its place is known: what is wrong, what to do."""

    def __init__(self, what: str, todo: str, at: Sequence[str | int] = ()) -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo
        self.at = tuple(at)  # a path below the key (an item of a table or array), for its line


def load_scenario(path: Path) -> Scenario:
    """The scenario in `path`, validated; ScenarioError (exit 2, one line) for anything wrong in it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file — give the path of a .toml scenario "
                            "(examples/ has two)") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory — give the path of a .toml scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read it ({exc.strerror or exc}) — check its permissions"
                            ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 (at byte {exc.start}) — save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))  # 3.11 has no exc.lineno
        where = f"{path}:{found.group(1)}" if found else str(path)
        message = str(exc).split(" (at ")[0]
        raise ScenarioError(f"{where}: invalid TOML: {message} — fix the syntax") from None
    return _Loader(path, text).scenario(data, hashlib.sha256(raw).hexdigest())


class _Loader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = KeyLines(text)
        self.base = path.parent

    def fail(self, key_path: Sequence[str | int], what: str, todo: str) -> ScenarioError:
        line = self.lines.line_of(key_path)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ScenarioError(f"{where}: {_dotted(key_path)}: {what} — {todo}")

    def scenario(self, data: dict[str, Any], file_sha256: str) -> Scenario:
        self.refuse_unknown((), data, [*TOP_KEYS, *TABLES])
        top: dict[str, Any] = {}
        for key in TOP_KEYS:
            if key in data:
                if not isinstance(data[key], str):
                    raise self.fail((key,), f"expected a string, got {_type(data[key])}",
                                    f'write {key} = "..."')
                top[key] = data[key]
        tables: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for name, cls in TABLES.items():
            table = data.get(name, {})
            if not isinstance(table, dict):
                raise self.fail((name,), f"expected a table, got {_type(table)}", f"write it as [{name}]")
            known = [f.name for f in fields(cls)]
            self.refuse_unknown((name,), table, known)
            values: dict[str, Any] = {}
            for f in fields(cls):
                if f.name not in table:
                    continue
                key_path = (name, f.name)
                try:
                    values[f.name] = self.check(f.metadata["kind"], table[f.name])
                except _Bad as bad:
                    raise self.fail((*key_path, *bad.at), bad.what,
                                    bad.todo or f"e.g. {f.metadata['example']}") from None
                line = self.lines.line_of(key_path)
                if line is not None:
                    lines[f.metadata["option"]] = line
            tables[name] = cls(**values)
        self.cross_checks(tables)
        return Scenario(path=self.path, file_sha256=file_sha256, **top, **tables, lines=lines)

    def refuse_unknown(self, at: tuple[str, ...], table: dict[str, Any], known: Sequence[str]) -> None:
        for key in table:
            if key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            todo = (f"did you mean '{close[0]}'?" if close else
                    f"known keys{' of [' + _dotted(at) + ']' if at else ' at the top'}: {', '.join(known)}")
            raise self.fail((*at, key), "unknown key", todo)

    def cross_checks(self, tables: dict[str, Any]) -> None:
        """What cannot go together within the file (the command line may still override either)."""
        arrival = tables["arrival"]
        if arrival.rate is not None and arrival.stages is not None:
            raise self.fail(("arrival", "stages"), "give rate or stages, not both",
                            "remove one of them (stages ramp the rate; rate holds it)")
        if arrival.as_fast_as_possible:
            for key in ("rate", "stages", "duration"):
                if getattr(arrival, key) is not None:
                    raise self.fail(("arrival", key),
                                    "as_fast_as_possible sends count events with no schedule",
                                    f"remove {key} or as_fast_as_possible")
        if arrival.stages is not None and arrival.process == "poisson":
            raise self.fail(("arrival", "process"),
                            "stages ramps are deterministic; poisson applies to rate only",
                            'remove process = "poisson" or use rate')

        segments = tables["segments"]
        if segments.segment is not None and segments.sequence is not None:
            try:
                _segment_of(segments.segment, segments.sequence)
            except _Bad as bad:
                raise self.fail(("segments", "segment"), bad.what, bad.todo) from None

    def check(self, kind: Kind, value: Any) -> Any:
        return _CHECKS[kind](self, value)


# -- the checks, one per kind of value ------------------------------------------------------------


def _string(_: _Loader, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"expected a non-empty string, got {_type(value)}", "")
    return value.strip()


def _choice(*allowed: str) -> Callable[[_Loader, Any], str]:
    def check(loader: _Loader, value: Any) -> str:
        text = _string(loader, value)
        if text not in allowed:
            close = difflib.get_close_matches(text, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(allowed)}"
            raise _Bad(f"{text!r} is not one of {', '.join(allowed)}", hint)
        return text

    return check


def _integer(minimum: int, maximum: int | None = None) -> Callable[[_Loader, Any], int]:
    def check(_: _Loader, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"expected a whole number, got {_type(value)}", "")
        if value < minimum or (maximum is not None and value > maximum):
            span = f"between {minimum} and {maximum}" if maximum is not None else f"{minimum} or more"
            raise _Bad(f"{value} is out of range", f"give a number {span}")
        return value

    return check


def _boolean(_: _Loader, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected true or false, got {_type(value)}", "write true or false (no quotes)")
    return value


def _duration(loader: _Loader, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value}s"
    text = _string(loader, value)
    seconds = _parsed(units.parse_duration, text)
    if seconds <= 0:
        raise _Bad(f"{text!r} must be longer than 0", 'e.g. "30s" or "2m"')
    return text


def _rate(loader: _Loader, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value:g}/s"
    text = _string(loader, value)
    if _parsed(units.parse_rate, text) <= 0:
        raise _Bad(f"{text!r} must be more than 0", 'e.g. "100/s"')
    return text


def _parsed(parse: Callable[[str], float], text: str) -> float:
    try:
        return parse(text)
    except EvtoolError:
        kind = "rate such as 500/s, 30/m or 100/h" if parse is units.parse_rate else \
            "duration such as 500ms, 30s, 2m or 1m30s"
        raise _Bad(f"{text!r} is not a {kind.split(' such', maxsplit=1)[0]}", f"write a {kind}") from None


def _target(loader: _Loader, value: Any) -> str:
    text = _string(loader, value)
    if text != "-" and not text.lower().startswith(_TARGET_SCHEMES):
        raise _Bad(f"{text!r} is not a target URL",
                   "use http(s)://HOST:PORT/PATH, kafka://HOST:PORT/TOPIC, file:PATH or -")
    return text


def _headers(loader: _Loader, value: Any) -> tuple[str, ...]:
    from evtool.load.targets.base import parse_header

    if not isinstance(value, dict):
        raise _Bad(f"expected a table of header names and values, got {_type(value)}",
                   'write [target.headers] with lines such as Authorization = "env:API_TOKEN"')
    out: list[str] = []
    for name, header_value in value.items():
        if not isinstance(header_value, str):
            raise _Bad(f"the value of header {name!r} must be a string, got {_type(header_value)}",
                       'quote it, e.g. X-Tenant = "acme"', at=(name,))
        try:
            parse_header(f"{name}: {header_value}")
        except EvtoolError:
            raise _Bad(f"{name!r} is not a header name", "use letters, digits and -", at=(name,)) from None
        if _SECRET_HEADER.search(name) and not header_value.startswith("env:"):
            raise _Bad(f"header {name!r} holds a literal value in a versioned file (it may be a secret)",
                       f'read it from the environment: {name} = "env:VARIABLE"', at=(name,))
        out.append(f"{name}: {header_value}")
    return tuple(out)


def _properties(loader: _Loader, value: Any) -> tuple[str, ...]:
    from evtool.load.targets.kafka import parse_property

    if not isinstance(value, dict):
        raise _Bad(f"expected a table of librdkafka properties, got {_type(value)}",
                   'write [target.kafka] with lines such as "linger.ms" = 20')
    out: list[str] = []

    def flatten(prefix: tuple[str, ...], node: Any) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                flatten((*prefix, key), item)
            return
        name = ".".join(prefix)
        if isinstance(node, bool):
            text = "true" if node else "false"
        elif isinstance(node, int | float | str):
            text = str(node)
        else:
            raise _Bad(f"property {name!r} must be a string, number or boolean, got {_type(node)}",
                       'e.g. "linger.ms" = 20', at=prefix)
        try:
            parse_property(f"{name}={text}", where="property")
        except EvtoolError as exc:
            raise _Bad(f"{exc.message.split(': ', 1)[-1]}", "", at=prefix) from None
        if _SECRET_PROPERTY.search(name) and not text.startswith("env:"):
            raise _Bad(f"property {name!r} holds a literal secret in a versioned file",
                       f'read it from the environment: "{name}" = "env:VARIABLE"', at=prefix)
        out.append(f"{name}={text}")

    flatten((), value)
    return tuple(out)


def _stages(loader: _Loader, value: Any) -> str:
    from evtool.load import arrivals

    if isinstance(value, str):
        try:
            arrivals.parse_stages(value)
        except EvtoolError as exc:
            raise _Bad(exc.message.replace("--stages ", "").split(": ", 1)[-1],
                       'e.g. "30s:50/s,2m:500/s" or [{ duration = "30s", rate = "50/s" }]') from None
        return value
    if not isinstance(value, list) or not value:
        raise _Bad(f"expected a list of stages, got {_type(value)}", "")
    parts: list[str] = []
    for index, stage in enumerate(value):
        if not isinstance(stage, dict):
            raise _Bad(f"stage {index + 1} must be a table with duration and rate, got {_type(stage)}",
                       '{ duration = "30s", rate = "50/s" }', at=(index,))
        for key in stage:
            if key not in ("duration", "rate"):
                close = difflib.get_close_matches(key, ["duration", "rate"], n=1)
                raise _Bad(f"stage {index + 1}: unknown key {key!r}",
                           f"did you mean '{close[0]}'?" if close else "a stage has duration and rate",
                           at=(index, key))
        if "duration" not in stage or "rate" not in stage:
            raise _Bad(f"stage {index + 1} needs both duration and rate",
                       '{ duration = "30s", rate = "50/s" }', at=(index,))
        try:
            duration = _duration(loader, stage["duration"])
            # a stage may ramp down to 0/s (k6's last stage), so the rate is only parsed here
            rate = stage["rate"]
            rate = f"{rate:g}/s" if isinstance(rate, int | float) and not isinstance(rate, bool) else rate
            _parsed(units.parse_rate, _string(loader, rate))
        except _Bad as bad:
            raise _Bad(f"stage {index + 1}: {bad.what}", bad.todo, at=(index,)) from None
        parts.append(f"{duration}:{rate}")
    return ",".join(parts)


def _mix(loader: _Loader, value: Any) -> str:
    from evtool.events.source import parse_mix

    if isinstance(value, dict):
        items = []
        for name, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
                raise _Bad(f"the weight of {name!r} must be a positive number, got {weight!r}",
                           f"e.g. {name} = 70", at=(name,))
            items.append(f"{name}={weight:g}")
        value = ",".join(items)
    text = _string(loader, value)
    try:
        parse_mix(text)
    except EvtoolError as exc:
        raise _Bad(exc.message, exc.hint or 'write type=weight pairs, e.g. "order=70,complaint=30"') from None
    return text


def _versions(loader: _Loader, value: Any) -> str:
    from evtool.events.source import parse_version_mix

    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    elif isinstance(value, dict):
        value = ",".join(f"{version}:{weight}" for version, weight in value.items())
    text = _string(loader, value)
    try:
        parse_version_mix(text)
    except EvtoolError as exc:
        raise _Bad(exc.message, exc.hint or 'e.g. "1:30,2:70"') from None
    return text


def _slos(loader: _Loader, value: Any) -> tuple[str, ...]:
    from evtool.results.slo import FORMS, parse_slo

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise _Bad(f"expected a list of objectives, got {_type(value)}", "")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise _Bad(f"objective {index + 1} must be a string, got {_type(item)}", 'e.g. "p99<=2s"',
                       at=(index,))
        try:
            parse_slo(item)
        except EvtoolError as exc:
            raise _Bad(exc.message.replace("bad --slo ", "objective "), f"forms: {FORMS}",
                       at=(index,)) from None
    return tuple(items)


def _segment_of(text: str, sequence: str | None) -> None:
    from evtool.load.segment import Segment

    try:
        Segment.parse(text, sequence, option="segment", sequence_option="sequence")
    except EvtoolError as exc:
        raise _Bad(exc.message.split(": ", 1)[-1], exc.hint or 'e.g. "1/4:1/2" or "0/3"') from None


def _segment(loader: _Loader, value: Any) -> str:
    """I/N or A:B; a middle A:B may take its sequence from the command line, so that is checked later."""
    text = _string(loader, value)
    try:
        _segment_of(text, None)
    except _Bad as bad:
        if "middle segment" not in bad.what:
            raise
    return text


def _sequence(loader: _Loader, value: Any) -> str:
    from evtool.load.segment import SegmentSequence

    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    text = _string(loader, value)
    try:
        SegmentSequence.parse(text, option="sequence")
    except EvtoolError as exc:
        raise _Bad(exc.message.split(": ", 1)[-1], exc.hint or 'e.g. "0,1/4,1/2,1"') from None
    return text


def _instant(loader: _Loader, value: Any) -> str:
    from evtool.load.segment import parse_start_at

    if hasattr(value, "isoformat"):  # a TOML offset date-time, unquoted
        if getattr(value, "tzinfo", None) is None:
            raise _Bad("a local time (no zone): instances on different hosts would disagree",
                       "add the zone, e.g. 2026-12-01T10:00:00Z")
        value = value.isoformat()
    text = _string(loader, value)
    try:
        parse_start_at(text)
    except EvtoolError as exc:
        raise _Bad(exc.message.split(": ", 1)[-1],
                   exc.hint or 'e.g. "2026-12-01T10:00:00Z" or "+30s"') from None
    return text


def _path(loader: _Loader, value: Any) -> Path:
    """Relative paths are relative to the scenario file, so it runs the same from any directory."""
    return (loader.base / _string(loader, value)).resolve()


_CHECKS: dict[str, Callable[[_Loader, Any], Any]] = {
    "str": _string,
    "target": _target,
    "mode": _choice("binary", "structured", "batch"),
    "client": _choice("auto", "aiohttp", "lean"),
    "process": _choice("constant", "poisson"),
    "count": _integer(0),
    "positive": _integer(1),
    "workers": _integer(1, 64),
    "bool": _boolean,
    "duration": _duration,
    "rate": _rate,
    "headers": _headers,
    "properties": _properties,
    "stages": _stages,
    "mix": _mix,
    "versions": _versions,
    "slos": _slos,
    "path": _path,
    "segment": _segment,
    "sequence": _sequence,
    "instant": _instant,
}


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


def _type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)
