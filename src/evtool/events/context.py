"""What every generator draws from: one seeded RNG, the value pools, and a clock that moves forward.

One context per stream, passed explicitly (no global state), so two streams with the same seed
produce the same bytes no matter what else runs in the process.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from evtool.events.pools import Pools

_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4_from(rng: random.Random) -> str:
    """A random (version 4) UUID string drawn from `rng`, so ids are reproducible from the seed."""
    h = f"{(rng.getrandbits(128) & _V4_CLEAR) | _V4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class _Rfc3339:
    """Formats epoch milliseconds as RFC 3339 UTC; caches the per-second prefix (events share seconds)."""

    second: int = -1
    prefix: str = ""

    def __call__(self, ms: int) -> str:
        second, millis = divmod(ms, 1000)
        if second != self.second:
            self.second = second
            self.prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self.prefix}.{millis:03d}Z"


@dataclass(slots=True)
class GenContext:
    rng: random.Random
    pools: Pools
    now_ms: int  # the stream's simulated clock; generators stamp data with it
    format_time: _Rfc3339 = field(default_factory=_Rfc3339)

    def now_rfc3339(self) -> str:
        return self.format_time(self.now_ms)

    def uuid(self) -> str:
        return uuid4_from(self.rng)
