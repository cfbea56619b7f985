"""A scenario and the command line, merged into simulate's options; and what the run's meta records.

The rule: an option given on the command line wins over the file. Headers (`-H`) and Kafka
properties (`-X`) are merged by name, the command line's replacing the file's of the same name;
`--slo` replaces the file's objectives (a set of objectives is one decision). The arrival's
shape is one choice too: `--rate`, `--stages` or `--as-fast-as-possible` on the command line
replaces the file's shape (so `--stages` over a file's `rate` is not a conflict).

The record (`ScenarioRecord.to_meta`) is the effective scenario in the file's layout, secrets
redacted, and its SHA-256 over canonical JSON without the [output] and [segments] tables: runs of
the same scenario (segments of one test on several hosts) share that hash; where they were written
and which part each ran do not change it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evtool.scenario.model import KEY_OF, UNHASHED_TABLES, Scenario

MERGED_BY_NAME = {"header": ":", "kafka_property": "="}  # list options merged item by item (name, separator)
SHAPE = ("rate", "stages", "as_fast_as_possible")  # the arrival's shape: one choice


@dataclass(frozen=True, slots=True)
class ScenarioRecord:
    """What meta.json says about the scenario a run came from."""

    path: str
    file_sha256: str
    sha256: str  # of `resolved` without [output]
    resolved: dict[str, Any]  # the effective scenario, by table and key, secrets redacted
    sources: dict[str, str]  # "table.key" -> "scenario" or "command line", for every option set
    overridden: dict[str, dict[str, Any]] = field(default_factory=dict)  # the file's value and the winner
    name: str | None = None

    def to_meta(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "sha256": self.sha256,
            "file_sha256": self.file_sha256,
            "resolved": self.resolved,
            "sources": self.sources,
            "overridden": self.overridden,
        }


@dataclass(frozen=True, slots=True)
class Merged:
    values: dict[str, Any]  # every simulate parameter, the scenario's where the command line was silent
    record: ScenarioRecord


def merge(scenario: Scenario, params: Mapping[str, Any], given: Collection[str]) -> Merged:
    """`params`: simulate's parameters as parsed (defaults included); `given`: the ones set on the
    command line (or by environment variable), which win."""
    from_file = scenario.options()
    values = dict(params)
    sources: dict[str, str] = {}
    overridden: dict[str, dict[str, Any]] = {}
    shape_given = any(name in given for name in SHAPE)
    for option, file_value in from_file.items():
        key = ".".join(KEY_OF[option])
        if option in MERGED_BY_NAME and option in given:
            values[option] = _merge_named(file_value, params[option] or [], MERGED_BY_NAME[option])
            sources[key] = "scenario and command line"
            overridden[key] = {"scenario": _shown(option, file_value),
                               "command_line": _shown(option, params[option]), "won": "command line"}
        elif option in given or (shape_given and option in SHAPE) or _dropped(option, given):
            sources[key] = "command line"
            overridden[key] = {"scenario": _shown(option, file_value),
                               "command_line": _shown(option, params[option]), "won": "command line"}
        else:
            values[option] = file_value
            sources[key] = "scenario"
    for option in given:
        if option in KEY_OF and option not in from_file:
            sources[".".join(KEY_OF[option])] = "command line"
    resolved = _resolved(values, set(from_file) | set(given))
    essential = {table: keys for table, keys in resolved.items() if table not in UNHASHED_TABLES}
    digest = hashlib.sha256(json.dumps(essential, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    record = ScenarioRecord(
        path=str(scenario.path), file_sha256=scenario.file_sha256, sha256=digest, resolved=resolved,
        sources=dict(sorted(sources.items())), overridden=dict(sorted(overridden.items())),
        name=scenario.name,
    )
    return Merged(values, record)


def _dropped(option: str, given: Collection[str]) -> bool:
    """A file's key the command line's choice excludes: a duration under --as-fast-as-possible,
    the file's poisson process under --stages (ramps are deterministic)."""
    return ((option == "duration" and "as_fast_as_possible" in given)
            or (option == "arrival" and "stages" in given))


def _merge_named(file_items: list[str], command_items: list[str], separator: str) -> list[str]:
    def name(item: str) -> str:
        return item.partition(separator)[0].strip().lower()

    replaced = {name(item) for item in command_items}
    return [item for item in file_items if name(item) not in replaced] + list(command_items)


def _shown(option: str, value: Any) -> Any:
    """A value as meta may show it (secrets redacted)."""
    from evtool.load.targets.base import REDACTED, parse_header, redact_url
    from evtool.load.targets.kafka import KafkaOptions, parse_property

    if value is None:
        return None
    if option == "header":
        return [parse_header(item).redacted() for item in value]
    if option == "kafka_property":
        redacted = KafkaOptions(properties=tuple(parse_property(item) for item in value)).redacted()
        names = [parse_property(item)[0] for item in value]
        return [f"{name}={redacted.get(name, REDACTED)}" for name in names]
    if option in ("target", "collect"):
        return redact_url(str(value))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _resolved(values: Mapping[str, Any], options: Collection[str]) -> dict[str, Any]:
    """The effective values of the options the scenario or the command line set, in the file's layout."""
    out: dict[str, dict[str, Any]] = {}
    for option in sorted(options, key=lambda o: KEY_OF.get(o, ("", o))):
        if option not in KEY_OF or values.get(option) is None:
            continue
        table, key = KEY_OF[option]
        out.setdefault(table, {})[key] = _shown(option, values[option])
    return out
