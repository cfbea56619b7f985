"""The open-model dispatcher: each event leaves at its intended time, whatever is still in flight.

Why open: a closed loop (send, wait, send) slows down with the target and hides its slowness
(coordinated omission). Here the schedule is fixed up front; the only limit is
`max_in_flight` requests, and an event that meets that limit is recorded as DROPPED with
MAX_IN_FLIGHT, never silently delayed. Each event's record keeps intended, sent and ack
times, so a sender that falls behind its own schedule shows up as send lag.

Every event taken from the plan gets exactly one record: OK, FAILED (with why), or DROPPED
(with why); events cut off by the end of the run are CANCELLED (counted as aborted).

A target that can take a request without being awaited (`Submitter`: Kafka's produce and
delivery report) gets no task per request: its outcome comes back through a callback, and
requests still pending when the grace period ends are recorded as aborted (a callback after
that is ignored, so each event still has exactly one record).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from evtool.errors import LogWriteError
from evtool.events.retime import retime
from evtool.load.live import Tick, histogram
from evtool.load.targets.base import OutEvent, RawBatch, RunSubmitter, SendResult, Submitter, Target
from evtool.results.clock import RunClock
from evtool.results.runlog import EVENT_DTYPE, EventLogWriter, Reason, Status
from evtool.values.context import Rfc3339

if TYPE_CHECKING:
    from evtool.load.plan import EventBlock

Plan = Iterator[tuple[int, OutEvent]]  # (intended offset from time zero in ns, event)
YIELD_EVERY_NS = 1_000_000
# a timer that fires this close to its time is finished by yielding to the loop, not re-armed
# (uvloop's timers have millisecond resolution and may fire up to about a millisecond early)
SPIN_BELOW_NS = 2_000_000
# the last stretch of a wait that short is slept in the thread (the loop blocked that long): a
# spinning loop keeps a core busy, and on a shared box a busy task is the one the kernel preempts
BLOCK_BELOW_NS = 500_000
NOT_GENERATED = "(not generated)"  # the type of events dropped behind schedule before they were made
Records = npt.NDArray[np.void]  # rows of EVENT_DTYPE


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
    error: LogWriteError | None = None  # the run log's first write error: the run stopped there


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
        blocks: Iterator[EventBlock] | None = None,
        end_ns: int | None = None,
    ) -> None:
        """`blocks`, when given, replaces `plan`: pre-serialized events in columns (`_schedule_blocks`).

        `end_ns` bounds the run: an event not sent by then is dropped (BEHIND_SCHEDULE), as is the
        rest of the plan, so a rate the sender cannot reach still ends on time with every event counted.
        """
        self._plan = plan
        self._blocks = blocks
        self._type_map = np.zeros(0, dtype=np.uint16)  # a block's type index -> this log's type index
        self._target = target
        self._writer = writer
        self._clock = clock
        self._start_ns = start_ns
        self._options = options
        self._on_tick = on_tick
        self._source = source
        self._end_ns = end_ns
        self._error: LogWriteError | None = None
        writer.on_error(self._on_write_error)
        self._tasks: set[asyncio.Task[None]] = set()
        self._submit = target.submit if isinstance(target, Submitter) else None
        self._submit_run_to = target.submit_run if isinstance(target, RunSubmitter) else None
        self._runs: set[_Run] = set()  # runs handed to `submit_run` whose events are not all answered
        # submitted requests not yet answered: token -> what `_abort_pending` records for them
        self._pending: dict[int, Callable[[SendResult], None]] = {}
        self._next_token = 0
        self._all_answered: asyncio.Future[None] | None = None
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
        self._ack_arrays: list[npt.NDArray[np.int64]] = []
        self._lag_arrays: list[npt.NDArray[np.int64]] = []
        # this tick's histograms so far (`_fold`), handed over and renewed at each tick
        self._ack_hist = histogram([])
        self._lag_hist = histogram([])
        self._tick_lag_max = 0

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

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C / SIGTERM, also after `run` returned (the wait for late results)."""
        return self._interrupted

    def _on_write_error(self, error: LogWriteError) -> None:
        """The log cannot take records: stop sending now, with no grace (nothing more can be logged)."""
        self._error = error
        self.stop(interrupted=False)
        if self._grace_cut is not None:
            self._grace_cut.set()

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop the run cleanly (only from the main thread)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> DispatchResult:
        with _fine_timer_slack():
            return await self._run()

    async def _run(self) -> DispatchResult:
        self._grace_cut = asyncio.Event()
        ticker = asyncio.create_task(self._ticker())
        try:
            try:
                if self._blocks is not None:
                    await self._schedule_blocks(self._blocks)
                else:
                    await self._schedule()
            finally:  # also when the plan fails (an unreadable line): what is in flight gets its record
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
            error=self._error or self._writer.error,
        )

    async def _schedule(self) -> None:
        if self._options.as_fast_as_possible and self._options.batch_size == 1 and self._submit_run_to:
            await self._schedule_runs()
            return
        batch: list[OutEvent] = []
        batch_deadline = 0
        linger_ns = int(self._options.batch_linger_s * 1e9)
        size = self._options.batch_size
        afap = self._options.as_fast_as_possible
        stamp = Rfc3339() if self._options.stamp_time else None
        clock = self._clock
        last_yield = clock.now_ns()
        end_ns = self._end_ns if self._end_ns is not None and not afap else 1 << 62
        plan = self._plan
        for offset, event in plan:
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
                if now > end_ns:  # the run is over and this event was not reached: nor the rest
                    self._cancel_unsent([*batch, event], Reason.BEHIND_SCHEDULE)
                    batch = []
                    await self._drop_rest(plan)
                    break
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
            if stamp:  # payload times follow the event's own time (events.retime)
                intended_ms = event.intended_ns // 1_000_000
                retime(event.event, stamp(intended_ms), intended_ms)
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

    async def _schedule_runs(self) -> None:
        """As fast as possible to a `RunSubmitter`: the plan's events taken a run at a time (as many as
        there are free slots, up to `SUBMIT_RUN`), stamped with one intended time when the run is made,
        handed over in one call; their records are filled and written together (`_Run`)."""
        clock = self._clock
        stamp = Rfc3339() if self._options.stamp_time else None
        type_index: dict[str, int] = {}
        writer = self._writer
        plan = self._plan
        last_yield = clock.now_ns()
        while not self._stopping:
            while self.in_flight >= self._options.max_in_flight and not self._stopping:
                await self._wait_for_slot()
            if self._stopping:
                break
            taken = list(islice(plan, min(self._options.max_in_flight - self.in_flight, SUBMIT_RUN)))
            if not taken:
                break
            events = [event for _, event in taken]
            now = clock.now_ns()
            time_text = stamp(now // 1_000_000) if stamp else None
            types = []
            for event in events:
                event.intended_ns = now
                if time_text is not None:
                    event.event.time = time_text
                name = event.event.type
                index = type_index.get(name)
                if index is None:
                    index = type_index[name] = writer.type_index(name)
                types.append(index)
            rows = np.zeros(len(events), dtype=EVENT_DTYPE)
            rows["key"] = np.frombuffer(b"".join([event.key for event in events]), dtype="V16")
            rows["type"] = types
            rows["schema_version"] = [event.schema_version for event in events]
            rows["intended_ns"] = now
            self._hand_over_run(events, rows)
            if clock.now_ns() - last_yield > YIELD_EVERY_NS:
                await asyncio.sleep(0)
                last_yield = clock.now_ns()

    def _hand_over_run(self, events: Sequence[OutEvent], rows: Records) -> None:
        """One `submit_run` (free slots for all): each event answered through `_Run.delivered`."""
        assert self._submit_run_to is not None
        count = len(rows)
        self.scheduled += count
        self.in_flight += count
        run = _Run(self, rows, self._rows_sent(rows), perf=True)
        self._runs.add(run)
        try:
            self._submit_run_to(events, run.delivered)
        except Exception:  # a target bug must not lose records: what it did not answer fails
            run.close(_TARGET_BUG)

    async def _schedule_blocks(self, blocks: Iterator[EventBlock]) -> None:
        """Pre-serialized events (a replayed log) in blocks of columns: the work is per request, not event.

        Same rules as `_schedule`: a request of up to `batch_size` events leaves when it is full,
        when its oldest event has waited `batch_linger_s`, or (here) at the end of a block; as
        fast as possible it waits for a free slot, otherwise a full in-flight cap drops it.
        Records are written a request at a time, from a per-block template of key, type and version.
        """
        size = self._options.batch_size
        afap = self._options.as_fast_as_possible
        linger_ns = int(self._options.batch_linger_s * 1e9)
        for block in blocks:
            behind = await self._schedule_block(block, size, afap, linger_ns)
            if behind:  # the run is over: the rest of the plan was not reached
                for rest in blocks:
                    if self._writer.error is not None:
                        break
                    self._cancel_records(self._behind(rest), Reason.BEHIND_SCHEDULE)
                break
            if self._stopping:
                break

    def _behind(self, block: EventBlock) -> Records:
        template = self._template(block)
        template["intended_ns"] = block.offsets + self._start_ns
        return template

    async def _schedule_block(self, block: EventBlock, size: int, afap: bool, linger_ns: int) -> bool:
        """Every event of `block` launched, dropped or (when the run stops) recorded as aborted.

        True when the run's end came first (the rest of the block is dropped as BEHIND_SCHEDULE).
        """
        clock = self._clock
        end_ns = self._end_ns if self._end_ns is not None else 1 << 62
        behind = False
        last_yield = clock.now_ns()
        count = len(block)
        template = self._template(block)
        if self._stopping:
            self._cancel_records(template)
            return False
        if afap:
            intended = template["intended_ns"]
        else:
            intended = block.offsets + self._start_ns
            template["intended_ns"] = intended
        offsets: list[int] = [] if afap else intended.tolist()
        start = 0
        while start < count:
            if afap:
                while self.in_flight >= self._options.max_in_flight and not self._stopping:
                    await self._wait_for_slot()
                if self._stopping:
                    break
                if self._submit is not None and size == 1:  # one request per event, a run of them at once
                    free = self._options.max_in_flight - self.in_flight
                    stop = min(start + min(free, SUBMIT_RUN), count)
                    template["intended_ns"][start:stop] = clock.now_ns()
                    self._submit_run(block, template, start, stop)
                else:
                    stop = min(start + size, count)
                    template["intended_ns"][start:stop] = clock.now_ns()
                    self._launch_rows(block, template, start, stop)
                now = clock.now_ns()
                if now - last_yield > YIELD_EVERY_NS:
                    await asyncio.sleep(0)
                    last_yield = clock.now_ns()
                start = stop
                continue
            stop = min(start + size, count)
            deadline = offsets[start] + linger_ns
            if offsets[stop - 1] > deadline:  # a partial request leaves when its oldest event has waited
                stop = start + int(np.searchsorted(intended[start:stop], deadline, side="right"))
                leave = deadline
            else:
                leave = offsets[stop - 1]
            now = clock.now_ns()
            if now > end_ns:
                behind = True
                break
            if now - last_yield > YIELD_EVERY_NS:
                await asyncio.sleep(0)
                last_yield = now
            if leave > now:
                await self._sleep_until(leave)
                last_yield = leave
            if self._stopping:
                break
            self._launch_rows(block, template, start, stop)
            start = stop
        if start < count:
            self._cancel_records(template[start:], Reason.BEHIND_SCHEDULE if behind else Reason.CANCELLED)
        return behind

    def _template(self, block: EventBlock) -> Records:
        """The block's records with what is known before sending: key, type, version."""
        names = block.type_names
        if len(self._type_map) < len(names):
            known = len(self._type_map)
            added = [self._writer.type_index(name) for name in names[known:]]
            self._type_map = np.concatenate([self._type_map, np.array(added, dtype=np.uint16)])
        template = np.zeros(len(block), dtype=EVENT_DTYPE)
        template["key"] = block.keys
        template["type"] = self._type_map[block.types]
        template["schema_version"] = block.versions
        return template

    def _launch_rows(self, block: EventBlock, template: Records, start: int, stop: int) -> None:
        rows = template[start:stop]
        count = stop - start
        self.scheduled += count
        if self.in_flight >= self._options.max_in_flight:
            rows["status"] = Status.DROPPED
            rows["reason"] = Reason.MAX_IN_FLIGHT
            self._write_records(rows)
            self.dropped += count
            return
        self.in_flight += 1
        batch = RawBatch(block, start, stop)
        if self._submit is not None:
            sent_ns = self._rows_sent(rows)
            self._hand_over(batch, partial(self._complete_rows, rows, sent_ns))
            return
        task = asyncio.get_running_loop().create_task(self._send_rows(batch, rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _submit_run(self, block: EventBlock, template: Records, start: int, stop: int) -> None:
        """Events start..stop-1 of `block`, each its own request to a `Submitter` (there are free slots
        for all): the records are filled and written together once every one has its outcome."""
        rows = template[start:stop]
        if self._submit_run_to is not None:
            self._hand_over_run(RawBatch(block, start, stop), rows)
            return
        count = stop - start
        self.scheduled += count
        self.in_flight += count
        sent_ns = self._rows_sent(rows)
        run = _Run(self, rows, sent_ns)
        for index in range(count):
            self._hand_over(RawBatch(block, start + index, start + index + 1), partial(run.done, index))

    def _finish_run(self, run: _Run) -> None:
        rows, results = run.rows, run.results
        first = results[0]
        acks = np.asarray(run.acks, dtype=np.int64)
        if run.perf:  # perf_counter_ns readings (the target's): on the run clock
            acks += self._clock.wall_origin_ns - self._clock.mono_origin_ns
        if run in self._runs:
            self._runs.discard(run)
            self._answered()
        if all(result is first for result in results):  # the usual case: all acked (one shared result)
            self._fill(rows, first, run.sent_ns, acks)
        else:
            groups: dict[SendResult, list[int]] = {}
            for index, result in enumerate(results):  # by value: equal failures are one group
                groups.setdefault(result, []).append(index)
            for result, indexes in groups.items():
                where = np.asarray(indexes, dtype=np.intp)
                part = rows[where]
                self._fill(part, result, run.sent_ns, acks[where])
                rows[where] = part
        self._write_records(rows)

    def _fill(
        self, rows: Records, result: SendResult, sent_ns: int, acks: npt.NDArray[np.int64] | int
    ) -> None:
        """Records of events with one outcome (ack times given: one per event, or one for all), counted."""
        count = len(rows)
        ok = result.status is Status.OK
        rows["sent_ns"] = 0 if result.status is Status.DROPPED else sent_ns
        rows["ack_ns"] = acks if ok else 0
        rows["status"] = result.status
        rows["reason"] = result.reason
        rows["http_status"] = result.http_status
        rows["attempts"] = min(result.attempts, 255)
        if result.detail:
            rows["detail"] = self._writer.detail_index(result.detail)
        if ok:
            self.ok += count
            self._ack_arrays.append(acks - rows["intended_ns"])
        elif result.reason is Reason.CANCELLED:
            self.aborted += count
        elif result.status is Status.DROPPED:
            self.dropped += count
        else:
            self.failed += count

    def _rows_sent(self, rows: Records) -> int:
        sent_ns = self._clock.now_ns()
        self.sent += len(rows)
        lags = sent_ns - rows["intended_ns"]
        self._lag_arrays.append(lags)
        self.lag_max_ns = max(self.lag_max_ns, int(lags.max()))
        return sent_ns

    async def _send_rows(self, batch: RawBatch, rows: Records) -> None:
        sent_ns = self._rows_sent(rows)
        self._complete_rows(rows, sent_ns, await self._request(batch))

    def _complete_rows(self, rows: Records, sent_ns: int, result: SendResult) -> None:
        ack_ns = self._clock.now_ns() if result.status is Status.OK else 0
        self._fill(rows, result, sent_ns, ack_ns)
        self._write_records(rows)

    async def _request(self, events: Sequence[OutEvent]) -> SendResult:
        """One request, whatever happens to it: its outcome is recorded, never lost, and its
        in-flight slot is given back (waking a sender waiting for one)."""
        try:
            return await self._target.send(events)
        except asyncio.CancelledError:
            return SendResult(Status.FAILED, Reason.CANCELLED, 0, 1)
        except Exception:  # a target bug must not lose records
            return SendResult(Status.FAILED, Reason.OTHER, 0, 1)
        finally:
            self._release()

    def _release(self) -> None:
        """A request's in-flight slot given back, waking a sender waiting for one."""
        self.in_flight -= 1
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self._waiting_for_slot:
            waiter.set_result(None)

    def _hand_over(self, events: Sequence[OutEvent], complete: Callable[[SendResult], None]) -> None:
        """One request to a `Submitter`: `complete` runs once, with its outcome or (end of run) aborted."""
        assert self._submit is not None
        token = self._next_token
        self._next_token = token + 1
        self._pending[token] = complete
        on_done = _Answer(self, token)
        try:
            now = self._submit(events, on_done)
        except Exception:  # a target bug must not lose records
            now = _TARGET_BUG
        if now is not None:
            on_done(now)

    def _answered(self) -> None:
        """Wake the end of the run's wait when nothing submitted is left unanswered."""
        if not self._pending and not self._runs and self._all_answered is not None \
                and not self._all_answered.done():
            self._all_answered.set_result(None)

    def _abort_pending(self) -> None:
        """Submitted requests still unanswered after the grace period: aborted, like cancelled tasks."""
        for run in list(self._runs):
            run.close(_ABORTED)
        pending = list(self._pending.values())
        self._pending.clear()
        for complete in pending:
            self._release()
            complete(_ABORTED)

    def _cancel_records(self, rows: Records, reason: Reason = Reason.CANCELLED) -> None:
        """Events taken from the plan that will not be sent: aborted or dropped, like `_cancel_unsent`."""
        if not len(rows):
            return
        unset = rows["intended_ns"] == 0
        rows["intended_ns"][unset] = self._clock.now_ns()
        rows["status"] = Status.DROPPED
        rows["reason"] = reason
        self._write_records(rows)
        self.scheduled += len(rows)
        if reason is Reason.CANCELLED:
            self.aborted += len(rows)
        else:
            self.dropped += len(rows)

    def _write_records(self, rows: Records) -> None:
        self._writer.append_records(rows)

    def _launch(self, events: list[OutEvent]) -> None:
        if self.in_flight >= self._options.max_in_flight:
            for event in events:
                self._record(event, 0, 0, Status.DROPPED, Reason.MAX_IN_FLIGHT, 0, 0)
            self.dropped += len(events)
            return
        self.in_flight += 1
        if self._submit is not None:
            sent_ns = self._events_sent(events)
            self._hand_over(events, partial(self._complete, events, sent_ns))
            return
        task = asyncio.get_running_loop().create_task(self._send(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _events_sent(self, events: list[OutEvent]) -> int:
        sent_ns = self._clock.now_ns()
        self.sent += len(events)
        lag_max = self.lag_max_ns
        for event in events:
            lag = sent_ns - event.intended_ns
            self._lags.append(lag)
            lag_max = max(lag_max, lag)
        self.lag_max_ns = lag_max
        return sent_ns

    async def _send(self, events: list[OutEvent]) -> None:
        sent_ns = self._events_sent(events)
        self._complete(events, sent_ns, await self._request(events))

    def _complete(self, events: list[OutEvent], sent_ns: int, result: SendResult) -> None:
        ack_ns = self._clock.now_ns() if result.status is Status.OK else 0
        record_sent_ns = 0 if result.status is Status.DROPPED else sent_ns  # never left this host
        for event in events:
            self._record(
                event, record_sent_ns, ack_ns, result.status, result.reason, result.http_status,
                result.attempts, result.detail,
            )
        count = len(events)
        if result.status is Status.OK:
            self.ok += count
            acks = self._acks
            for event in events:
                acks.append(ack_ns - event.intended_ns)
        elif result.reason is Reason.CANCELLED:
            self.aborted += count
        elif result.status is Status.DROPPED:  # refused by the target before sending (a full local queue)
            self.dropped += count
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
        detail: str = "",
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
            detail=detail,
        )

    def _cancel_unsent(self, events: list[OutEvent], reason: Reason = Reason.CANCELLED) -> None:
        """Events taken from the plan that will not be sent: aborted (CANCELLED) or dropped (behind)."""
        for event in events:
            if not event.intended_ns:
                event.intended_ns = self._clock.now_ns()
            self._record(event, 0, 0, Status.DROPPED, reason, 0, 0)
        self.scheduled += len(events)
        if reason is Reason.CANCELLED:
            self.aborted += len(events)
        else:
            self.dropped += len(events)

    async def _drop_rest(self, plan: Plan) -> None:
        """The plan's events the sender did not reach before the end: one DROPPED record each.

        A plan that can (`GeneratedRun.rest_records`) gives their records without making the
        events (at 5,000,000/s making them would take minutes); any other is walked to its end.
        """
        rest = getattr(plan, "rest_records", None)
        if rest is not None:
            type_index = self._writer.type_index(NOT_GENERATED)
            for rows in rest(self._start_ns, type_index):
                if self._writer.error is not None:
                    return
                rows["status"] = Status.DROPPED
                rows["reason"] = Reason.BEHIND_SCHEDULE
                self._write_records(rows)
                self.scheduled += len(rows)
                self.dropped += len(rows)
                await asyncio.sleep(0)  # requests in flight still get their answers on time
            return
        for offset, event in plan:
            if self._writer.error is not None:
                return
            event.intended_ns = self._start_ns + offset
            self._cancel_unsent([event], Reason.BEHIND_SCHEDULE)

    async def _drain(self) -> None:
        """Wait up to the grace period for requests in flight, then cancel (and record) the rest."""
        if self._tasks or self._pending or self._runs:
            assert self._grace_cut is not None
            loop = asyncio.get_running_loop()
            cut = asyncio.ensure_future(self._grace_cut.wait())
            deadline = loop.time() + self._options.grace_s
            while (self._tasks or self._pending or self._runs) and not cut.done():
                left = deadline - loop.time()
                if left <= 0:
                    break
                waits: set[asyncio.Future[Any]] = {*self._tasks, cut}
                if self._pending or self._runs:
                    self._all_answered = loop.create_future()
                    waits.add(self._all_answered)
                await asyncio.wait(waits, timeout=left, return_when="FIRST_COMPLETED")
            cut.cancel()
            self._all_answered = None
        self._abort_pending()
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- time ------------------------------------------------------------------------------

    async def _sleep_until(self, at_ns: int) -> None:
        """Until the run clock reads `at_ns` or later (never earlier), or the run stops.

        The loop's timer may fire early (uvloop rounds to milliseconds against a cached loop time):
        a wake-up short of `at_ns` sleeps again, or, within `SPIN_BELOW_NS`, yields to the loop
        (requests in flight still progress) until the clock gets there, so no lag is added. The
        last `BLOCK_BELOW_NS` are slept in the thread (`time.sleep`, fine-grained: see
        `_fine_timer_slack`): the loop waits that long, but the process does not spin.
        """
        clock = self._clock
        loop = asyncio.get_running_loop()
        slept = False
        while not self._stopping:
            left = at_ns - clock.now_ns()
            if left <= 0:
                return
            if slept and left < SPIN_BELOW_NS:
                if left <= BLOCK_BELOW_NS:
                    time.sleep(left / 1e9)
                else:
                    await asyncio.sleep(0)
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            handle = loop.call_later(left / 1e9, _wake, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                self._waiter = None
            slept = True

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
        """A tick every `tick_s`, its histogram work done in `TICK_SLICES` slices between the ticks:
        one go over a tick's 2,500 latencies at 10,000/s held the loop ~0.7 ms (every event due
        then waited), a slice holds it a fifth of that (measured: 1.6 ms CPU at most -> 0.3 ms)."""
        pause = self._options.tick_s / TICK_SLICES
        while True:
            for _ in range(TICK_SLICES - 1):
                await asyncio.sleep(pause)
                self._fold()
            await asyncio.sleep(pause)
            self._writer.flush()
            self._tick(finished=False)

    def _fold(self) -> None:
        """The latencies noted since the last fold, added to this tick's histograms."""
        acks, self._acks = self._acks, []
        lags, self._lags = self._lags, []
        ack_arrays, self._ack_arrays = self._ack_arrays, []
        lag_arrays, self._lag_arrays = self._lag_arrays, []
        if self._on_tick is None:
            return
        if acks:
            self._ack_hist += histogram(acks)
        if lags:
            self._lag_hist += histogram(lags)
            top = max(lags)
            self._tick_lag_max = max(self._tick_lag_max, top)
        for array in ack_arrays:
            self._ack_hist += histogram(array)
        for array in lag_arrays:
            if len(array):
                self._lag_hist += histogram(array)
                self._tick_lag_max = max(self._tick_lag_max, int(array.max()))

    def _tick(self, *, finished: bool) -> None:
        self._fold()
        if self._on_tick is None:
            return
        ack_hist, lag_hist, lag_max = self._ack_hist, self._lag_hist, self._tick_lag_max
        self._ack_hist, self._lag_hist, self._tick_lag_max = histogram([]), histogram([]), 0
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
                ack_hist=ack_hist,
                lag_hist=lag_hist,
                lag_max_ns=lag_max,
                finished=finished,
            )
        )


class _Answer:
    """A submitted request's `on_done`: its outcome recorded once, a late one (after the grace
    period's abort) ignored. One object per request in flight, not a closure and its four cells."""

    __slots__ = ("dispatcher", "token")

    def __init__(self, dispatcher: Dispatcher, token: int) -> None:
        self.dispatcher = dispatcher
        self.token = token

    def __call__(self, result: SendResult) -> None:
        dispatcher = self.dispatcher
        pending = dispatcher._pending
        complete = pending.pop(self.token, None)
        if complete is None:
            return  # recorded already: aborted at the end of the grace period
        dispatcher._release()
        complete(result)
        if not pending:
            dispatcher._answered()


class _Run:
    """Outcomes of a run of submitted events (`Dispatcher._submit_run`), until the last one comes.

    `perf`: answered through `delivered` (a `RunSubmitter`), with ack times on `perf_counter_ns`.
    """

    __slots__ = ("acks", "closed", "dispatcher", "left", "perf", "results", "rows", "sent_ns")

    def __init__(self, dispatcher: Dispatcher, rows: Records, sent_ns: int, *, perf: bool = False) -> None:
        self.dispatcher = dispatcher
        self.rows = rows
        self.sent_ns = sent_ns
        self.left = len(rows)
        self.results: list[SendResult] = [_ABORTED] * len(rows)
        self.acks: list[int] = [0] * len(rows)
        self.perf = perf
        self.closed = False

    def delivered(self, index: int, result: SendResult, ack_perf_ns: int) -> None:
        """Event `index`'s outcome (`RunSubmitter`): counted once; a late or repeated one is ignored."""
        results = self.results
        if self.closed or results[index] is not _ABORTED:
            return
        results[index] = result
        self.acks[index] = ack_perf_ns
        self.left -= 1
        dispatcher = self.dispatcher
        dispatcher._release()
        if not self.left:
            self.closed = True
            dispatcher._finish_run(self)

    def close(self, result: SendResult) -> None:
        """The run's unanswered events get `result` (aborted at the end of the grace, a target bug)."""
        if self.closed:
            return
        self.closed = True
        dispatcher = self.dispatcher
        for index, given in enumerate(self.results):
            if given is _ABORTED:
                self.results[index] = result
                dispatcher._release()
        self.left = 0
        dispatcher._finish_run(self)

    def done(self, index: int, result: SendResult) -> None:
        self.results[index] = result
        self.acks[index] = self.dispatcher._clock.now_ns()
        self.left -= 1
        if not self.left:
            self.dispatcher._finish_run(self)


TICK_SLICES = 5  # folds of the latencies into histograms per tick (`_ticker`)
SUBMIT_RUN = 256  # events handed to a Submitter between two looks at the clock (as fast as possible)
_ABORTED = SendResult(Status.FAILED, Reason.CANCELLED, 0, 1)
_TARGET_BUG = SendResult(Status.FAILED, Reason.OTHER, 0, 1)


@contextlib.contextmanager
def _fine_timer_slack() -> Iterator[None]:
    """This thread's sleeps end within about a microsecond of their time, for the run (Linux).

    Linux lets a normal thread's sleep overrun by its timer slack (50 us by default) so wake-ups
    can be merged; `_sleep_until`'s short in-thread sleeps would add that to every event's lag.
    """
    prctl = _libc_prctl()
    old = prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0) if prctl is not None else -1
    if old > 0 and prctl is not None:
        prctl(_PR_SET_TIMERSLACK, 1_000, 0, 0, 0)
    try:
        yield
    finally:
        if old > 0 and prctl is not None:
            prctl(_PR_SET_TIMERSLACK, old, 0, 0, 0)


_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
