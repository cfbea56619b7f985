"""The scenario file's schema: one dataclass per table, one field per key.

Every field names the `simulate` option it stands for (`metadata["option"]`), so a scenario
is nothing but those options written down: the loader validates each key with the option's
own parser, and `Scenario.options()` hands them to `simulate` in the form its command line
takes. A field left None was not in the file (the option's default applies).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Kind = Literal[
    "str", "target", "mode", "client", "process", "count", "positive", "workers", "bool",
    "duration", "rate", "headers", "properties", "stages", "mix", "versions", "slos", "path",
    "segment", "sequence", "instant",
]


def _key(option: str, kind: Kind, example: str) -> Any:
    """A key of the file: the simulate option it sets, how it is checked, and an example value for errors."""
    return field(default=None, metadata={"option": option, "kind": kind, "example": example})


@dataclass(frozen=True, slots=True)
class TargetTable:
    """[target]: where events go and how (the transport's settings)."""

    url: str | None = _key("target", "target", 'url = "http://127.0.0.1:8080/events"')
    mode: str | None = _key("mode", "mode", 'mode = "binary" (or "structured", "batch")')
    batch_size: int | None = _key("batch_size", "positive", "batch_size = 100")
    timeout: str | None = _key("timeout", "duration", 'timeout = "10s"')
    retries: int | None = _key("retries", "count", "retries = 2")
    client: str | None = _key("client", "client", 'client = "auto" (or "aiohttp", "lean")')
    insecure: bool | None = _key("insecure", "bool", "insecure = false")
    max_in_flight: int | None = _key("max_in_flight", "positive", "max_in_flight = 10000")
    grace: str | None = _key("grace", "duration", 'grace = "5s"')
    workers: int | None = _key("workers", "workers", "workers = 2")
    key: str | None = _key("key", "str", 'key = "data.order_id"')
    headers: tuple[str, ...] | None = _key("header", "headers", 'Authorization = "env:API_TOKEN"')
    kafka: tuple[str, ...] | None = _key("kafka_property", "properties", '"linger.ms" = 20')


@dataclass(frozen=True, slots=True)
class EventsTable:
    """[events]: what is sent."""

    mix: str | None = _key("mix", "mix", 'mix = "order=70,complaint=30" (or a table: order = 70)')
    flow: str | None = _key("flow", "str", 'flow = "order-lifecycle"')
    schema_versions: str | None = _key("schema_versions", "versions", 'schema_versions = "1:30,2:70"')
    seed: int | None = _key("seed", "count", "seed = 42")
    schemas: Path | None = _key("schemas", "path", 'schemas = "schemas"')  # noqa: RUF009 (a field(), by name)


@dataclass(frozen=True, slots=True)
class ArrivalTable:
    """[arrival]: when events leave (an open model: the schedule does not wait for the target)."""

    rate: str | None = _key("rate", "rate", 'rate = "100/s"')
    process: str | None = _key("arrival", "process", 'process = "poisson" (or "constant")')
    stages: str | None = _key("stages", "stages", 'stages = [{ duration = "30s", rate = "50/s" }]')
    duration: str | None = _key("duration", "duration", 'duration = "30s"')
    count: int | None = _key("count", "count", "count = 1000")
    as_fast_as_possible: bool | None = _key("as_fast_as_possible", "bool", "as_fast_as_possible = true")


@dataclass(frozen=True, slots=True)
class CollectorTable:
    """[collector]: where downstream results come from."""

    address: str | None = _key("collect", "str", 'address = "127.0.0.1:9000" (or "kafka://HOST:PORT/TOPIC")')
    correlate_by: str | None = _key("correlate_by", "str", 'correlate_by = "data.order_id"')
    result_timeout: str | None = _key("result_timeout", "duration", 'result_timeout = "10s"')


@dataclass(frozen=True, slots=True)
class ObjectivesTable:
    """[objectives]: the verdict the run's exit code gates on."""

    slo: tuple[str, ...] | None = _key("slo", "slos", 'slo = ["p99<=2s", "lost<=0"]')


@dataclass(frozen=True, slots=True)
class OutputTable:
    """[output]: where the run is written (not part of what the scenario *is*: not in its hash)."""

    run_dir: Path | None = _key("run_dir", "path", 'run_dir = "runs/orders"')  # noqa: RUF009 (a field(), by name)
    summary_export: Path | None = _key("summary_export", "path", 'summary_export = "summary.json"')  # noqa: RUF009 (a field(), by name)
    quiet: bool | None = _key("quiet", "bool", "quiet = true")


@dataclass(frozen=True, slots=True)
class SegmentsTable:
    """[segments]: this instance's part of a scenario split over instances (not in the scenario's hash:
    the parts of one scenario share it; `latency-report` checks the parts against the sequence)."""

    segment: str | None = _key("segment", "segment", 'segment = "1/4:1/2" (or "0/3": segment 0 of 3)')
    sequence: str | None = _key("segment_sequence", "sequence", 'sequence = "0,1/4,1/2,1"')
    start_at: str | None = _key("start_at", "instant", 'start_at = "2026-12-01T10:00:00Z" (or "+30s")')


TABLES: dict[str, type] = {
    "target": TargetTable,
    "events": EventsTable,
    "arrival": ArrivalTable,
    "collector": CollectorTable,
    "objectives": ObjectivesTable,
    "output": OutputTable,
    "segments": SegmentsTable,
}
TOP_KEYS = ("name", "description")
OUTPUT_TABLE = "output"
UNHASHED_TABLES = frozenset({OUTPUT_TABLE, "segments"})  # how a run is written or split, not what it is


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded, validated scenario file."""

    path: Path
    file_sha256: str  # of the file's bytes
    name: str | None = None
    description: str | None = None
    target: TargetTable = field(default_factory=TargetTable)
    events: EventsTable = field(default_factory=EventsTable)
    arrival: ArrivalTable = field(default_factory=ArrivalTable)
    collector: CollectorTable = field(default_factory=CollectorTable)
    objectives: ObjectivesTable = field(default_factory=ObjectivesTable)
    output: OutputTable = field(default_factory=OutputTable)
    segments: SegmentsTable = field(default_factory=SegmentsTable)
    lines: dict[str, int] = field(default_factory=dict)  # option -> line of its key in the file

    def options(self) -> dict[str, Any]:
        """The options the file sets, by simulate's parameter names, in their command-line form."""
        out: dict[str, Any] = {}
        for table in TABLES:
            section = getattr(self, table)
            for f in fields(section):
                value = getattr(section, f.name)
                if value is not None:
                    out[f.metadata["option"]] = list(value) if isinstance(value, tuple) else value
        return out

    def where(self, option: str) -> str:
        """`file:line: table.key` of the key that set `option` (for errors found after loading)."""
        table, key = KEY_OF[option]
        line = self.lines.get(option)
        return f"{self.path}:{line}: {table}.{key}" if line else f"{self.path}: {table}.{key}"


def _key_of() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for table, cls in TABLES.items():
        for f in fields(cls):
            out[f.metadata["option"]] = (table, f.name)
    return out


KEY_OF: dict[str, tuple[str, str]] = _key_of()  # simulate option -> (table, key) in the file
