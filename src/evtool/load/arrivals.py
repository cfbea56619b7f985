"""Arrival processes: when each event is meant to be sent, as lazy offsets in ns from time zero.

Why offsets and not sleeps: the dispatcher compares each offset with the clock and sends
everything that is due, so a late wake-up never shifts the rest of the schedule (open model,
no coordinated omission). The processes are pure functions of their options (and seed), so
`--workers N` can give worker i every N-th arrival of the same global schedule.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from evtool.errors import UsageError
from evtool.units import parse_duration, parse_rate

NS = 1_000_000_000
T = TypeVar("T")

@dataclass(frozen=True, slots=True)
class Stage:
    """Ramp linearly from the previous stage's rate to `rate` (events/s) over `duration_s`."""

    duration_s: float
    rate: float


def parse_stages(text: str) -> list[Stage]:
    """`30s:50/s,2m:500/s,30s:0/s` (k6 ramping-arrival-rate stages) to a list of stages."""
    stages: list[Stage] = []
    for index, part in enumerate(p for p in text.split(",") if p.strip()):
        duration, sep, rate = part.partition(":")
        if not sep:
            raise UsageError(
                f"--stages {text!r}: stage {index + 1} ({part.strip()!r}) must be DURATION:RATE, "
                "e.g. 30s:50/s"
            )
        stages.append(
            Stage(
                parse_duration(duration, option=f"--stages stage {index + 1}"),
                parse_rate(rate, option=f"--stages stage {index + 1}"),
            )
        )
    if not stages:
        raise UsageError(f"--stages {text!r}: give at least one stage, e.g. 30s:50/s,2m:500/s")
    return stages


def stages_duration_s(stages: list[Stage]) -> float:
    return sum(stage.duration_s for stage in stages)


def stages_count(stages: list[Stage], start_rate: float = 0.0) -> int:
    """How many arrivals `staged_offsets` places: the rate's integral, rounded."""
    total = 0.0
    previous = start_rate
    for stage in stages:
        total += (previous + stage.rate) / 2 * stage.duration_s
        previous = stage.rate
    return math.floor(total + 0.5)


def _bounded(offsets: Iterator[int], duration_s: float | None, count: int | None) -> Iterator[int]:
    if count is not None:
        offsets = islice(offsets, count)
    if duration_s is None:
        yield from offsets
        return
    limit = round(duration_s * NS)
    for offset in offsets:
        if offset >= limit:
            return
        yield offset


def _require_bound(duration_s: float | None, count: int | None) -> None:
    if duration_s is None and count is None:
        raise UsageError("give --duration or --count (every run must be bounded)")
    if count is not None and count < 0:
        raise UsageError(f"--count {count}: must be 0 or more")
    if duration_s is not None and duration_s < 0:
        raise UsageError(f"--duration {duration_s}s: must be 0 or more")


def constant_offsets(
    rate: float, *, duration_s: float | None = None, count: int | None = None
) -> Iterator[int]:
    """Evenly spaced arrivals at `rate`/s starting at 0; offsets computed, never accumulated."""
    _require_bound(duration_s, count)
    if rate <= 0:
        raise UsageError(f"--rate {rate:g}/s: must be more than 0")
    gap = NS / rate
    return _bounded((round(i * gap) for i in _naturals()), duration_s, count)


def poisson_offsets(
    rate: float, *, seed: int | None = None, duration_s: float | None = None, count: int | None = None
) -> Iterator[int]:
    """Exponential gaps with mean 1/`rate`, seeded, first arrival at 0."""
    _require_bound(duration_s, count)
    if rate <= 0:
        raise UsageError(f"--rate {rate:g}/s: must be more than 0")

    def generate() -> Iterator[int]:
        rng = random.Random(seed)
        t = 0.0
        while True:
            yield round(t * NS)
            t += rng.expovariate(rate)

    return _bounded(generate(), duration_s, count)


def staged_offsets(
    stages: list[Stage], *, start_rate: float = 0.0, count: int | None = None
) -> Iterator[int]:
    """Arrivals of a piecewise-linear rate: arrival k is where the rate's integral reaches k + 1/2.

    Integrating (rather than stepping the rate) places arrivals exactly on a ramp, and the
    half makes the total the rounded integral, so `0→100/s over 2s` gives exactly 100.
    """
    if count is not None and count < 0:
        raise UsageError(f"--count {count}: must be 0 or more")

    def generate() -> Iterator[int]:
        t0 = 0.0  # start of the current stage, s
        done = 0.0  # integral of the rate up to t0
        k = 0
        previous = start_rate
        for stage in stages:
            r0, r1, d = previous, stage.rate, stage.duration_s
            area = (r0 + r1) / 2 * d
            slope_half = (r1 - r0) / (2 * d) if d > 0 else 0.0
            while d > 0 and k + 0.5 <= done + area:
                n = k + 0.5 - done  # events to accumulate inside this stage
                # solve r0 t + slope_half t^2 = n in its cancellation-free form
                disc = max(r0 * r0 + 4 * slope_half * n, 0.0)
                denom = r0 + math.sqrt(disc)
                t = 2 * n / denom if denom > 0 else 0.0
                yield round((t0 + min(t, d)) * NS)
                k += 1
            t0 += d
            done += area
            previous = r1

    return islice(generate(), count) if count is not None else generate()


def shard(items: Iterable[T], index: int, workers: int) -> Iterator[T]:
    """Worker `index` of `workers` takes every `workers`-th item, so shards interleave exactly."""
    return islice(items, index, None, workers)


def _naturals() -> Iterator[int]:
    i = 0
    while True:
        yield i
        i += 1
