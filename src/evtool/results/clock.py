"""One clock for every timestamp of a run: wall-clock nanoseconds that never jump.

`time.time_ns()` can step when NTP adjusts it, which would corrupt latencies; a monotonic
clock has no meaning across processes. So each process anchors the monotonic clock to the
wall clock once, and every reading after that is anchor + monotonic elapsed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RunClock:
    wall_origin_ns: int = field(default_factory=time.time_ns)
    mono_origin_ns: int = field(default_factory=time.perf_counter_ns)

    def now_ns(self) -> int:
        return self.wall_origin_ns + (time.perf_counter_ns() - self.mono_origin_ns)

    def at_monotonic(self, perf_counter_ns: int) -> int:
        """The run-clock time of a `time.perf_counter_ns()` reading taken in this process."""
        return self.wall_origin_ns + (perf_counter_ns - self.mono_origin_ns)
