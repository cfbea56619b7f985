"""The generated-event source of `simulate`, as a picklable factory each sender process calls.

Generation lives in `evtool.events.source` (the same `EventStream` and options as
`evtool generate`); this carries the option strings across processes and gives worker i the
seed `seed + i * stride`, so workers never send the same events and a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from evtool.catalog.bundled import resolve_catalogue
from evtool.catalog.loader import load_catalog
from evtool.config import load_settings
from evtool.events.envelope import CloudEvent
from evtool.events.source import (
    EventStream,
    GenerateOptions,
    default_mix,
    parse_flow,
    parse_mix,
    parse_version_mix,
)

WORKER_SEED_STRIDE = 1_000_003


@dataclass(frozen=True, slots=True)
class GeneratedEvents:
    """`--mix`, `--flow`, `--schema-versions`, `--seed` and the schema directory, as given."""

    mix: str | None = None
    flow: str | None = None
    schema_versions: str | None = None
    seed: int | None = None
    schemas: Path | None = None  # None: schema_dir of evtool.toml, else the bundled examples

    def stream(self, shard: int = 0) -> EventStream:
        """A compiled stream; bad options raise UsageError/SchemaError here, before any event."""
        root, settings = resolve_catalogue(self.schemas, load_settings(None))
        catalog = load_catalog(root)
        options = GenerateOptions(seed=(self.seed or 0) + shard * WORKER_SEED_STRIDE)
        kwargs: dict[str, object] = {}
        if self.mix:
            kwargs["mix"] = parse_mix(self.mix)
        elif not self.flow:
            kwargs["mix"] = default_mix(catalog, settings)
        if self.flow:
            kwargs["flow"] = parse_flow(self.flow)
        if self.schema_versions:
            versions = parse_version_mix(self.schema_versions)
            if len(versions) == 1:
                kwargs["schema_version"] = versions[0][0]
            else:
                kwargs["version_mix"] = versions
        if kwargs:
            options = replace(options, **kwargs)  # type: ignore[arg-type]
        return EventStream(catalog, options)

    def check(self) -> None:
        """Resolve everything once in the parent, so bad options fail before any process starts."""
        self.stream(0)

    def __call__(self, shard: int, workers: int) -> Iterable[CloudEvent]:
        return self.stream(shard)

    def with_ids(self, shard: int, workers: int, ids: Callable[[], str]) -> Iterable[CloudEvent]:
        """The events with their ids given at birth by `ids` (`EventStream.events`)."""
        return self.stream(shard).events(ids)
