"""The generated-event source of `simulate`, as a picklable factory each sender process calls.

The generation itself lives in `evtool.events` (same options as `evtool generate`); this only
carries the option strings across processes and gives each worker its own seed, so workers
never generate the same events and a run is reproducible from its seed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from evtool.errors import UsageError
from evtool.events.envelope import CloudEvent

WORKER_SEED_STRIDE = 1_000_003


def _source_function() -> tuple[Callable[..., Iterable[CloudEvent]], Any]:
    """(events function, its options dataclass) from `evtool.events.source`."""
    try:
        module = importlib.import_module("evtool.events.source")
    except ImportError:
        raise UsageError(
            "event generation (evtool.events.source) is not available in this build",
            hint="use `evtool replay FILE` with a recorded log instead",
        ) from None
    function = getattr(module, "iter_events", None) or getattr(module, "generate_events", None)
    options = getattr(module, "SourceOptions", None) or getattr(module, "GenerateOptions", None)
    if function is None or options is None:
        raise UsageError("evtool.events.source does not provide an event source this version understands")
    return function, options


@dataclass(frozen=True, slots=True)
class GeneratedEvents:
    """`--mix`, `--flow`, `--schema-versions`, `--seed`, `--schemas` as given on the command line."""

    mix: str | None = None
    flow: str | None = None
    schema_versions: str | None = None
    seed: int | None = None
    schemas: str | None = None

    def check(self) -> None:
        """Build a source once in the parent, so bad options fail before any process starts."""
        iter(self(0, 1))

    def __call__(self, shard: int, workers: int) -> Iterable[CloudEvent]:
        function, options_type = _source_function()
        seed = None if self.seed is None else self.seed + shard * WORKER_SEED_STRIDE
        given = {
            "mix": self.mix,
            "flow": self.flow,
            "schema_versions": self.schema_versions,
            "seed": seed,
            "schemas": self.schemas,
        }
        fields = getattr(options_type, "__dataclass_fields__", {})
        options = options_type(**{k: v for k, v in given.items() if k in fields and v is not None})
        return function(options)
