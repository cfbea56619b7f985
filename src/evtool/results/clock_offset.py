"""How a sender's clock relates to the clock its results were stamped on: the collector's offset.

End-to-end latency is `result seen − intended`. The intended time is on the sender's run clock;
the arrival is stamped by whoever received the result. With `--collect` that is this process
(the HTTP collector in it, or a Kafka consumer on this host): one clock, nothing to correct
(`LOCAL`). With `--remote-collector` it is `evtool collect` on another host, whose clock may be
off by any amount: the sender measures the offset NTP-style (`load.clocksync`) before time zero
and again at the end, and records it here in the run's meta (`RunMeta.collector_clock`).

**Correction.** A report moves every record of a sender's run directory onto the collector's
clock (`shift_ns`: + offset) instead of moving results onto a sender's clock. With N senders
(segments) against one collector, the collector's clock is the only one they all measured: one
shift per run directory puts every record of the merge on one timeline, so latencies are
corrected, the senders' windows line up, and what one sender measured alone (ack, service time,
scheduling lag: differences on one clock) is unchanged. Results a collector stamped are never
rewritten, and a result cannot be matched to "its" sender before the join.

**Bound.** Each exchange brackets the collector's reading between the sender's send and receive
(t0 ≤ server ≤ t1 in true time), so offset = server − (t0 + t1) / 2 is within rtt / 2 of the
truth whatever the asymmetry of the path; the sample with the smallest round trip is kept. With
a measurement at both ends the true offset at every moment of the run lies (for clocks whose rate
differs steadily) in the hull of both intervals: its middle is the correction, its half width the
bound, which so includes the drift across the run.

**Verdict rule** (`clock_problems`): the bound is error no correction can remove, so the run is
NOT MEASURABLE when it exceeds `MAX_BOUND_SHARE` (1 %) of the tightest latency the verdict judges
(the target, or a tighter objective). 1 % keeps the clock's doubt below the granularity anyone
reads a latency objective with (a p99 of 1.98 s against 2 s is a pass; ± 20 ms could flip it),
and scales with the target: an absolute limit (say 10 ms) would refuse a 60 s target measured
across regions, and pass a 100 ms one with 10 % doubt. An offset that could not be measured (an
older collector without the time endpoint) is NOT MEASURABLE for a remote host — its error is
unbounded — but not for a collector on this host (a loopback address): both processes read this
host's one wall clock, so the offset is 0 by construction (it is still measured when it can be,
and recorded).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

LOCAL = "local"  # the results were stamped on this run's own clock (this process or host)
REMOTE = "remote"  # stamped by a collector elsewhere; see offset_ns / bound_ns
MAX_BOUND_SHARE = 0.01  # of the tightest latency limit judged: above it, NOT MEASURABLE
CLOCK_PATH = "/evtool/clock"  # the collector's time endpoint: GET → {"now_ns": its run clock}


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One exchange, the best (smallest round trip) of a burst: offset = collector − sender."""

    offset_ns: int
    rtt_ns: int
    at_ns: int  # the sender's clock at the exchange's midpoint
    samples: int = 1  # exchanges made, of which this was the best

    @property
    def bound_ns(self) -> int:
        return (self.rtt_ns + 1) // 2


@dataclass(frozen=True, slots=True)
class CollectorClock:
    """What a run's meta says about the clock its results were stamped on (plain JSON types)."""

    kind: str  # LOCAL or REMOTE
    collector: str | None = None  # HOST:PORT of a remote collector
    offset_ns: int | None = None  # add to this run's times to put them on the collector's clock
    bound_ns: int | None = None  # |true offset − offset_ns| ≤ bound_ns throughout the run
    samples: int = 0  # exchanges made (start and end together)
    drift_ns: int | None = None  # end offset − start offset (both ends measured)
    start: dict[str, int] | None = None  # the best exchange before time zero (ClockSample fields)
    end: dict[str, int] | None = None  # the best exchange after the run
    same_host: bool = False  # a loopback address: the collector reads this host's wall clock
    error: str | None = None  # why an exchange failed (the offset may then be unknown)

    @property
    def unknown(self) -> bool:
        return self.kind == REMOTE and self.offset_ns is None

    def to_meta(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(cls, data: Any) -> CollectorClock | None:
        """From `RunMeta.collector_clock`; None for a run that recorded none (or an unreadable one)."""
        if not isinstance(data, dict) or data.get("kind") not in (LOCAL, REMOTE):
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError:
            return None

    def describe(self) -> str:
        """One line for the report: what the correction was and how sure it is."""
        if self.kind == LOCAL:
            return "results stamped on this run's clock (local clock): no offset"
        where = f"collector {self.collector}"
        if self.offset_ns is None:
            if self.same_host:
                return (f"{where}: offset not measured ({self.error or 'no answer'}); 0 by construction "
                        "(same host)")
            return f"{where}: offset unknown ({self.error or 'not measured'})"
        text = f"{where}: offset {self.offset_ns / 1e6:+.3f} ms ± {(self.bound_ns or 0) / 1e6:.3f} ms"
        text += f" ({self.samples} exchanges"
        if self.drift_ns is not None:
            text += f", drift {self.drift_ns / 1e6:+.3f} ms over the run"
        elif self.end is None:
            text += ", drift not measured"
        return text + ")"


def local_clock() -> CollectorClock:
    return CollectorClock(kind=LOCAL, offset_ns=0, bound_ns=0)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or name as given to --remote-collector) is this host by construction."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def combine(collector: str, start: ClockSample | None, end: ClockSample | None, *, same_host: bool,
            error: str | None = None) -> CollectorClock:
    """The run's correction from the exchanges before time zero and after the end (either may be missing).

    With both: the hull of [offset ± bound] at both ends (see the module docstring); its middle is
    the offset, its half width the bound. With one: that exchange's offset and bound (the drift
    across the run is then not in the bound, and the record says it was not measured).
    """
    measured = [s for s in (start, end) if s is not None]
    samples = sum(s.samples for s in measured)
    if not measured:
        return CollectorClock(kind=REMOTE, collector=collector, samples=samples, same_host=same_host,
                              error=error or "no exchange succeeded")
    low = min(s.offset_ns - s.bound_ns for s in measured)
    high = max(s.offset_ns + s.bound_ns for s in measured)
    offset = (low + high) // 2
    return CollectorClock(
        kind=REMOTE, collector=collector, offset_ns=offset, bound_ns=high - offset, samples=samples,
        drift_ns=end.offset_ns - start.offset_ns if start is not None and end is not None else None,
        start=asdict(start) if start is not None else None, end=asdict(end) if end is not None else None,
        same_host=same_host, error=error,
    )


def shift_ns(data: Any) -> int:
    """ns to add to every record time of a run (its `RunMeta.collector_clock`) for the collector's clock."""
    clock = CollectorClock.from_meta(data)
    if clock is None or clock.kind != REMOTE or clock.offset_ns is None:
        return 0
    return int(clock.offset_ns)


def clock_problems(clocks: Sequence[tuple[str, Any]], limit_ns: int, *, results: bool) -> list[str]:
    """Why the runs' latencies cannot be stood behind for their clocks, one line each (NOT MEASURABLE).

    `clocks`: (run path, its `RunMeta.collector_clock`); `limit_ns`: the tightest latency judged;
    `results`: whether any results were read (without, nothing crossed two clocks but the missing
    results of a remote collector are named).
    """
    problems = []
    allowed = limit_ns * MAX_BOUND_SHARE
    remote = [(path, clock) for path, data in clocks
              if (clock := CollectorClock.from_meta(data)) is not None and clock.kind == REMOTE]
    for path, clock in remote:
        if not results:
            problems.append(f"{path}: results went to the remote collector {clock.collector}: give its run "
                            "directory to latency-report too")
            continue
        if clock.offset_ns is None and not clock.same_host:
            problems.append(
                f"{path}: the clock offset to collector {clock.collector} is unknown "
                f"({clock.error or 'not measured'}), so end-to-end latency includes it: run an evtool "
                f"collect that answers GET {CLOCK_PATH}, or run the collector on the sender's host")
        elif clock.bound_ns is not None and clock.bound_ns > allowed:
            rtt = min((s["rtt_ns"] for s in (clock.start, clock.end) if s), default=None)
            rtt_text = f" (best round trip {rtt / 1e6:.1f} ms)" if rtt is not None else ""
            problems.append(
                f"{path}: the clock offset to collector {clock.collector} is known only to "
                f"±{clock.bound_ns / 1e6:.1f} ms{rtt_text}, more than {MAX_BOUND_SHARE:.0%} of the "
                f"{limit_ns / 1e6:g} ms latency judged: put the collector nearer the senders")
    return problems


__all__ = [
    "CLOCK_PATH", "LOCAL", "MAX_BOUND_SHARE", "REMOTE", "ClockSample", "CollectorClock", "clock_problems",
    "combine", "is_loopback", "local_clock", "shift_ns",
]
