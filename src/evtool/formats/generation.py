"""What every format's schema-driven generator shares: the generator types, depth limits, and a probe.

A format package compiles its schema once into a `DataGenerator` (a closure tree); the depth limits
keep recursive schemas finite, and the probe context lets a compiler try a generator at compile
time so a contradictory schema fails early with its pointer, never mid-stream.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from evtool.errors import SchemaError
from evtool.values.context import GenContext
from evtool.values.pools import Pools, build_pools

Gen = Callable[[GenContext, int], Any]  # (context, depth) -> value
DataGenerator = Callable[[GenContext], Any]

SOFT_DEPTH = 5  # past this, only required properties and minimum item counts
HARD_DEPTH = 64  # past this, a recursive schema has no way to stop
OPTIONAL_SHARE = 0.7  # how often an optional property is present
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
DEFAULT_SPAN = 1000


def top(gen: Gen) -> DataGenerator:
    return lambda ctx: gen(ctx, 0)


class Cell:
    """A forward reference, filled once the (possibly recursive) target is compiled."""

    gen: Gen | None = None

    def __call__(self, ctx: GenContext, depth: int) -> Any:
        assert self.gen is not None
        return self.gen(ctx, depth)


def err(source: str, pointer: str, what: str, hint: str | None = None) -> SchemaError:
    return SchemaError(f"{source}: {pointer or '/'}: {what}", pointer=pointer, hint=hint)


def bounded_repeat(ctx: GenContext, depth: int, low: int, high: int) -> int:
    if depth > SOFT_DEPTH or low == high:
        return low
    return ctx.rng.randint(low, high)



@functools.lru_cache(maxsize=1)
def probe_pools() -> Pools:
    return build_pools(0, customers=20, products=20)


def probe_context() -> GenContext:
    """A throwaway context to try a generator once at compile time (fail early, not mid-stream)."""
    return GenContext(random.Random(0), probe_pools(), 1_700_000_000_000)
