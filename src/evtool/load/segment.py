"""Segments: one schedule split over instances that never talk to each other.

Like k6's execution segments, every instance runs the same scenario and computes only its own
interleaved share: segment I of N (0-based, so a Kubernetes Indexed Job's JOB_COMPLETION_INDEX
is I) with W local workers is exactly shards I, I+N, …, I+(W-1)N of the same scenario run by one
process with N×W workers: the same intended times and the same events (each shard's generator
is seeded by its global shard number; ids carry the global shard, and each instance's own run
nonce, so they never collide). So the union of the segments is the
schedule one process would have sent, each segment's traffic is as smooth as the whole (every
N-th arrival of a constant, Poisson or staged process), and one entity's events — born in one
shard's generator — stay on one instance, in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evtool.errors import UsageError
from evtool.load.plan import EventBlock, Plan

_SEGMENT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# options that change how a run is recorded, not what it sends: segments of one scenario may differ in them
RUN_LOCAL_OPTIONS = frozenset(
    {"segment", "start_at", "run_dir", "quiet", "summary_export", "metrics", "collect", "remote_collector"}
)


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Segment:
        match = _SEGMENT.match(text)
        if match is None:
            raise UsageError(
                f"--segment {text!r}: expected I/N, e.g. 0/4 (segment index I from 0 to N-1)",
                hint="in a Kubernetes Indexed Job: --segment $JOB_COMPLETION_INDEX/<completions>",
            )
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 0 <= index < count:
            raise UsageError(
                f"--segment {text!r}: the index must be 0..{max(count, 1) - 1} of {count} segments",
                hint="segments are numbered from 0, like JOB_COMPLETION_INDEX",
            )
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def global_shard(self, shard: int, workers: int) -> tuple[int, int]:
        """(shard, workers) of this segment's local worker `shard` within the whole scenario."""
        return self.index + self.count * shard, self.count * workers


@dataclass(frozen=True, slots=True)
class SegmentedPlan:
    """A plan factory that gives each local worker its shard of the whole scenario's schedule."""

    inner: Any  # a PlanFactory (GeneratedPlan, ReplayPlan); picklable
    segment: Segment

    def __call__(self, shard: int, workers: int) -> Plan:
        global_shard, global_workers = self.segment.global_shard(shard, workers)
        plan: Plan = self.inner(global_shard, global_workers)
        return plan

    def blocks(self, shard: int, workers: int) -> Iterator[EventBlock] | None:
        blocks_of = getattr(self.inner, "blocks", None)
        if blocks_of is None:
            return None
        global_shard, global_workers = self.segment.global_shard(shard, workers)
        found: Iterator[EventBlock] | None = blocks_of(global_shard, global_workers)
        return found

    def __getattr__(self, name: str) -> Any:  # check(), and whatever else the runner asks the plan
        return getattr(self.inner, name)


def scenario_hash(options: dict[str, Any], target: str) -> str:
    """What makes two runs segments of one scenario: everything they send, not how they record it."""
    sent = {k: v for k, v in sorted(options.items()) if k not in RUN_LOCAL_OPTIONS}
    text = json.dumps({"options": sent, "target": target}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def segment_seed(options: dict[str, Any], target: str) -> int:
    """The seed every segment derives alike when none is given (a fresh seed each would differ)."""
    unseeded = {k: v for k, v in options.items() if k != "seed"}
    return int(scenario_hash(unseeded, target), 16) & 0x7FFF_FFFF


def parse_start_at(text: str, *, now: dt.datetime | None = None) -> int:
    """`--start-at 2026-12-01T10:00:00Z` or `+30s`: the wall-clock instant (ns) of time zero."""
    from evtool.units import parse_duration

    moment = now or dt.datetime.now(dt.UTC)
    stripped = text.strip()
    if stripped.startswith("+"):
        seconds = parse_duration(stripped[1:], option="--start-at")
        return int((moment.timestamp() + seconds) * 1e9)
    try:
        instant = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--start-at {text!r}: expected an ISO 8601 instant like 2026-12-01T10:00:00Z, or +30s"
        ) from None
    if instant.tzinfo is None:
        raise UsageError(
            f"--start-at {text!r}: give the time zone (e.g. a trailing Z for UTC)",
            hint="instances on different hosts must agree on the instant",
        )
    return int(instant.timestamp() * 1e9)
