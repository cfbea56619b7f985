"""The clock exchange with a remote collector: its offset from this sender's run clock, NTP-style.

`evtool collect` answers ``GET /evtool/clock`` with its run clock (``{"now_ns": …}``). A burst of
`SAMPLES` exchanges on one kept-alive connection (so only the first pays for the connect) gives
per exchange t0 (sent), server, t1 (answered); the one with the smallest round trip is kept, as
NTP does, because its bracket t0 ≤ server ≤ t1 is the tightest. The arithmetic and what a report
does with it live in `results.clock_offset`; this module only talks HTTP (httpx).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from evtool.errors import TargetError
from evtool.results.clock import RunClock
from evtool.results.clock_offset import CLOCK_PATH, ClockSample, combine, is_loopback

if TYPE_CHECKING:
    import httpx

SAMPLES = 8
PAUSE_S = 0.005  # between exchanges: a burst of back-to-back requests shares one unlucky moment
TIMEOUT_S = 2.0


class ClockUnanswered(Exception):
    """The collector answered, but not the time endpoint (an older collector): the offset is unknown."""


async def exchange(address: str, clock: RunClock, *, samples: int = SAMPLES,
                   timeout_s: float = TIMEOUT_S) -> ClockSample:
    """The best of `samples` exchanges with the collector at HOST:PORT, on `clock` (the run's clock).

    Raises `TargetError` when the collector cannot be reached at all (nothing would collect the
    results), `ClockUnanswered` when it answers without a time (an older `evtool collect`).
    """
    import httpx  # here: a run without a remote collector does not pay for importing it

    url = f"http://{address}{CLOCK_PATH}"
    best: ClockSample | None = None
    made = 0
    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        for n in range(samples):
            if n:
                await asyncio.sleep(PAUSE_S)
            t0 = clock.now_ns()
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                if best is not None:  # one lost exchange of several: the others stand
                    continue
                raise TargetError(f"--remote-collector {address}: cannot reach the collector "
                                  f"({type(exc).__name__}: {exc or 'no answer'})",
                                  hint="start `evtool collect --listen HOST:PORT` there first") from None
            t1 = clock.now_ns()
            made += 1
            server = _server_time(response)
            sample = ClockSample(offset_ns=server - (t0 + t1) // 2, rtt_ns=t1 - t0, at_ns=(t0 + t1) // 2)
            if best is None or sample.rtt_ns < best.rtt_ns:
                best = sample
    assert best is not None
    return ClockSample(best.offset_ns, best.rtt_ns, best.at_ns, samples=made)


def _server_time(response: httpx.Response) -> int:
    if response.status_code != 200:
        raise ClockUnanswered(f"GET {CLOCK_PATH} answered HTTP {response.status_code}: an older collector?")
    try:
        value = response.json()["now_ns"]
    except (ValueError, KeyError, TypeError):
        raise ClockUnanswered(f"GET {CLOCK_PATH} answered without now_ns") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ClockUnanswered(f"GET {CLOCK_PATH} answered a now_ns that is not an integer")
    return value


class RemoteCollector:
    """A run's remote collector: measured before time zero and after the end, recorded in the meta."""

    def __init__(self, address: str) -> None:
        from evtool.load.sources import http_host_port

        self.address = address
        self.host, _ = http_host_port(address)
        self.start: ClockSample | None = None
        self.end: ClockSample | None = None
        self.errors: list[str] = []

    async def measure_start(self, clock: RunClock) -> None:
        """Before time zero; an unreachable collector is an error (nothing would collect the results)."""
        try:
            self.start = await exchange(self.address, clock)
        except ClockUnanswered as exc:
            self.errors.append(str(exc))

    async def measure_end(self, clock: RunClock) -> None:
        """After the run: never an error (the run is over); a failure leaves the drift unmeasured."""
        if self.start is None:
            return  # it did not answer before: it will not now, and the offset stays unknown
        try:
            self.end = await exchange(self.address, clock)
        except (ClockUnanswered, TargetError) as exc:
            self.errors.append(f"at the end: {exc}")

    def record(self) -> dict[str, object]:
        """`RunMeta.collector_clock`."""
        clock = combine(self.address, self.start, self.end, same_host=is_loopback(self.host),
                        error="; ".join(self.errors) or None)
        return clock.to_meta()
