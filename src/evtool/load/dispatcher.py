"""The open-model dispatcher: each event leaves at its intended time, whatever is still in flight.

Why open: a closed loop (send, wait, send) slows down with the target and hides its slowness
(coordinated omission). Here the schedule is fixed up front; the only limit is
`max_in_flight` requests, and an event that meets that limit is recorded as DROPPED with
MAX_IN_FLIGHT, never silently delayed. Each event's record keeps intended, sent and ack
times, so a sender that falls behind its own schedule shows up as send lag.

Every event taken from the plan gets exactly one record: OK, FAILED (with why), or DROPPED
(with why); events cut off by the end of the run are CANCELLED (counted as aborted).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from evtool.load.live import Tick, histogram
from evtool.load.targets.base import OutEvent, SendResult, Target
from evtool.results.clock import RunClock
from evtool.results.runlog import EventLogWriter, Reason, Status

Plan = Iterator[tuple[int, OutEvent]]  # (intended offset from time zero in ns, event)
YIELD_EVERY_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    max_in_flight: int = 10_000  # requests (a batch is one request)
    batch_size: int = 1
    batch_linger_s: float = 0.05  # a partial batch leaves when its oldest event waited this long
    grace_s: float = 5.0  # how long the end of a run waits for requests in flight
    tick_s: float = 0.25  # live view ticks and log flushes
    as_fast_as_possible: bool = False  # ignore the plan's offsets; wait for a free slot instead of dropping
    stamp_time: bool = (
        False  # set each event's CloudEvents `time` to its intended send time (generated events)
    )


@dataclass(frozen=True, slots=True)
class DispatchResult:
    scheduled: int
    ok: int
    failed: int
    dropped: int
    aborted: int
    interrupted: bool
    lag_max_ns: int


class Dispatcher:
    """Runs one plan against one target, writing one record per event to `writer`."""

    def __init__(
        self,
        plan: Plan,
        target: Target,
        writer: EventLogWriter,
        clock: RunClock,
        *,
        start_ns: int,
        options: DispatchOptions = DispatchOptions(),
        on_tick: Callable[[Tick], None] | None = None,
        source: int = 0,
    ) -> None:
        self._plan = plan
        self._target = target
        self._writer = writer
        self._clock = clock
        self._start_ns = start_ns
        self._options = options
        self._on_tick = on_tick
        self._source = source
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._interrupted = False
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_for_slot = False
        self._grace_cut: asyncio.Event | None = None
        self.scheduled = self.sent = self.ok = self.failed = self.dropped = self.aborted = 0
        self.in_flight = 0
        self.lag_max_ns = 0
        self._acks: list[int] = []
        self._lags: list[int] = []

    # -- control ---------------------------------------------------------------------------

    def stop(self, *, interrupted: bool = True) -> None:
        """Stop scheduling (Ctrl-C, SIGTERM); a second call also cuts the grace period short."""
        if self._stopping and self._grace_cut is not None:
            self._grace_cut.set()
        self._stopping = True
        self._interrupted = self._interrupted or interrupted
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop the run cleanly (only from the main thread)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> DispatchResult:
        self._grace_cut = asyncio.Event()
        ticker = asyncio.create_task(self._ticker())
        try:
            await self._schedule()
            await self._drain()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self._writer.flush()
            self._tick(finished=True)
        return DispatchResult(
            scheduled=self.scheduled,
            ok=self.ok,
            failed=self.failed,
            dropped=self.dropped,
            aborted=self.aborted,
            interrupted=self._interrupted,
            lag_max_ns=self.lag_max_ns,
        )

    async def _schedule(self) -> None:
        batch: list[OutEvent] = []
        batch_deadline = 0
        linger_ns = int(self._options.batch_linger_s * 1e9)
        size = self._options.batch_size
        afap = self._options.as_fast_as_possible
        stamp = _Rfc3339() if self._options.stamp_time else None
        clock = self._clock
        last_yield = clock.now_ns()
        for offset, event in self._plan:
            if self._stopping:
                self._cancel_unsent([event])
                break
            if afap:
                while self.in_flight >= self._options.max_in_flight and not self._stopping:
                    await self._wait_for_slot()
                if self._stopping:
                    self._cancel_unsent([event])
                    break
                event.intended_ns = clock.now_ns()
            else:
                intended = self._start_ns + offset
                event.intended_ns = intended
                now = clock.now_ns()
                if now - last_yield > YIELD_EVERY_NS:
                    # behind schedule: let requests start and finish, or they would pile up as "in flight"
                    await asyncio.sleep(0)
                    last_yield = now
                if intended > now:
                    if batch and batch_deadline < intended:
                        await self._sleep_until(batch_deadline)
                        if not self._stopping:
                            self._launch(batch)
                            batch = []
                    if not self._stopping:
                        await self._sleep_until(intended)
                        last_yield = intended
                    if self._stopping:
                        self._cancel_unsent([*batch, event])
                        batch = []
                        break
            self.scheduled += 1
            if stamp:
                event.event.time = stamp(event.intended_ns)
            if size == 1:
                self._launch([event])
                if afap and clock.now_ns() - last_yield > YIELD_EVERY_NS:
                    await asyncio.sleep(0)
                    last_yield = clock.now_ns()
                continue
            if not batch:
                batch_deadline = event.intended_ns + linger_ns
            batch.append(event)
            if len(batch) >= size:
                self._launch(batch)
                batch = []
            if afap and clock.now_ns() - last_yield > YIELD_EVERY_NS:
                await asyncio.sleep(0)
                last_yield = clock.now_ns()
        if batch:
            if self._stopping:
                self._cancel_unsent(batch)
            else:
                self._launch(batch)

    def _launch(self, events: list[OutEvent]) -> None:
        if self.in_flight >= self._options.max_in_flight:
            for event in events:
                self._record(event, 0, 0, Status.DROPPED, Reason.MAX_IN_FLIGHT, 0, 0)
            self.dropped += len(events)
            return
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(self._send(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, events: list[OutEvent]) -> None:
        sent_ns = self._clock.now_ns()
        self.sent += len(events)
        for event in events:
            lag = sent_ns - event.intended_ns
            self._lags.append(lag)
            self.lag_max_ns = max(self.lag_max_ns, lag)
        try:
            result = await self._target.send(events)
        except asyncio.CancelledError:
            result = SendResult(Status.FAILED, Reason.CANCELLED, 0, 1)
        except Exception:  # a target bug must not lose records
            result = SendResult(Status.FAILED, Reason.OTHER, 0, 1)
        finally:
            self.in_flight -= 1
            waiter = self._waiter
            if waiter is not None and not waiter.done() and self._waiting_for_slot:
                waiter.set_result(None)
        ack_ns = self._clock.now_ns() if result.status is Status.OK else 0
        for event in events:
            self._record(
                event, sent_ns, ack_ns, result.status, result.reason, result.http_status, result.attempts
            )
        count = len(events)
        if result.status is Status.OK:
            self.ok += count
            acks = self._acks
            for event in events:
                acks.append(ack_ns - event.intended_ns)
        elif result.reason is Reason.CANCELLED:
            self.aborted += count
        else:
            self.failed += count

    def _record(
        self,
        event: OutEvent,
        sent_ns: int,
        ack_ns: int,
        status: Status,
        reason: Reason,
        http_status: int,
        attempts: int,
    ) -> None:
        self._writer.append(
            key=event.key,
            event_type=event.type,
            schema_version=event.schema_version,
            intended_ns=event.intended_ns,
            sent_ns=sent_ns,
            ack_ns=ack_ns,
            status=status,
            reason=reason,
            http_status=http_status,
            attempts=attempts,
        )

    def _cancel_unsent(self, events: list[OutEvent]) -> None:
        for event in events:
            if not event.intended_ns:
                event.intended_ns = self._clock.now_ns()
            self._record(event, 0, 0, Status.DROPPED, Reason.CANCELLED, 0, 0)
        self.scheduled += len(events)
        self.aborted += len(events)

    async def _drain(self) -> None:
        """Wait up to the grace period for requests in flight, then cancel (and record) the rest."""
        if self._tasks:
            assert self._grace_cut is not None
            cut = asyncio.ensure_future(self._grace_cut.wait())
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._options.grace_s
            while self._tasks and not cut.done():
                left = deadline - loop.time()
                if left <= 0:
                    break
                await asyncio.wait([*self._tasks, cut], timeout=left, return_when="FIRST_COMPLETED")
            cut.cancel()
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- time ------------------------------------------------------------------------------

    async def _sleep_until(self, at_ns: int) -> None:
        delay = (at_ns - self._clock.now_ns()) / 1e9
        if delay <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        handle = loop.call_later(delay, _wake, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None

    async def _wait_for_slot(self) -> None:
        """Until a request completes (or the run stops): one future, resolved by `_send` or `stop`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._waiting_for_slot = True
        try:
            await waiter
        finally:
            self._waiting_for_slot = False
            self._waiter = None

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._options.tick_s)
            self._writer.flush()
            self._tick(finished=False)

    def _tick(self, *, finished: bool) -> None:
        acks, self._acks = self._acks, []
        lags, self._lags = self._lags, []
        if self._on_tick is None:
            return
        self._on_tick(
            Tick(
                source=self._source,
                at_ns=self._clock.now_ns(),
                scheduled=self.scheduled,
                sent=self.sent,
                ok=self.ok,
                failed=self.failed,
                dropped=self.dropped,
                aborted=self.aborted,
                in_flight=self.in_flight,
                ack_hist=histogram(acks),
                lag_hist=histogram(lags),
                lag_max_ns=max(lags, default=0),
                finished=finished,
            )
        )


class _Rfc3339:
    """Wall-clock ns to RFC 3339 with milliseconds; the seconds part is formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ns: int) -> str:
        second, rest = divmod(ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{rest // 1_000_000:03d}Z"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
