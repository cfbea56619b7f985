"""A whole run: probe the target, create the run directory, dispatch in one or N processes, sum up.

With `workers > 1` each sender is a spawned process with its own event loop, target, plan
shard and log shard (`events-<i>.bin`); the parent writes meta.json, merges the workers' ticks
for the live view, forwards Ctrl-C and runs the one result source (`--collect`) on a thread of
its own, which matches results against every shard's acknowledged events. Children ignore SIGINT themselves
(the parent turns it into one SIGTERM each), so a terminal's Ctrl-C, which reaches the whole
process group, does not count twice and cut the grace period short.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import itertools
import multiprocessing
import os
import queue
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from evtool import __version__
from evtool.errors import EvtoolError, TargetError, UsageError
from evtool.load.clocksync import RemoteCollector
from evtool.load.dispatcher import Dispatcher, DispatchOptions, DispatchResult
from evtool.load.live import LiveSpec, LiveStats, Snapshot, Tick, completed
from evtool.load.plan import EventBlock, Plan
from evtool.load.sources.base import CollectorSpec, ResultSource
from evtool.load.targets import make_target, validate_target
from evtool.load.targets.base import Target, TargetOptions
from evtool.results.clock import RunClock
from evtool.results.clock_offset import local_clock
from evtool.results.failures import run_failures
from evtool.results.runlog import EventLogWriter, Reason, RunMeta, Status, read_run

START_LEAD_NS = 50_000_000  # time zero a little after everything is ready
START_AT_LATE_S = 1.0  # how late an instance may be for a shared --start-at
END_SLACK_NS = 100_000_000  # events not sent by the planned end plus this are dropped (BEHIND_SCHEDULE)
READY_TIMEOUT_S = 60.0
T = TypeVar("T")


class PlanFactory(Protocol):
    def __call__(self, shard: int, workers: int) -> Plan: ...


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a run needs; picklable (it crosses into worker processes). Holds no secret."""

    plan: PlanFactory
    target: TargetOptions
    dispatch: DispatchOptions = field(default_factory=DispatchOptions)
    workers: int = 1
    run_dir: Path | None = None
    command: tuple[str, ...] = ()  # redacted
    options: dict[str, Any] = field(default_factory=dict)  # redacted
    planned_duration_s: float | None = None
    lag_bound_ms: float = 10.0
    collector: CollectorSpec | None = None
    notes: tuple[str, ...] = ()  # for meta.notes from the start (e.g. bad lines a replay skips)
    scenario: dict[str, Any] | None = None  # the scenario file's record (redacted, hashed), for meta.json
    live: LiveSpec = field(default_factory=LiveSpec)  # the view's target and objectives, --abort-on-fail
    segment: str | None = None  # "I/N" or "A:B" (the plan is already a SegmentedPlan); recorded in meta
    segment_sequence: str | None = None  # the sequence the segment is a part of, e.g. "0,1/4,1/2,1"
    scenario_hash: str | None = None
    start_at_ns: int | None = None  # `--start-at`: time zero at this wall-clock instant (segments agree)
    # `--remote-collector HOST:PORT`: an `evtool collect` elsewhere gets the results; its clock offset is
    # measured before time zero and after the end (`load.clocksync`) and recorded in meta.json
    remote_collector: str | None = None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The end-of-run line, computed from the log on disk (so it is what the report will read)."""

    run_dir: Path
    scheduled: int
    ok: int
    failed: int
    dropped: int
    aborted: int
    achieved_rate: float
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    interrupted: bool
    notes: tuple[str, ...]
    failures: tuple[str, ...] = ()  # "failed 30: HTTP 501", most events first (results.failures)
    aborted_by: str | None = None  # --abort-on-fail: the objective lost, when, and why


def default_run_dir(now: dt.datetime | None = None) -> Path:
    now = now or dt.datetime.now(dt.UTC)
    return Path("runs") / f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class RunDirectory:
    """A run directory being set up: what was there before, so a failed start can take back what it made."""

    path: Path
    created: bool
    before: frozenset[str]

    def discard(self) -> None:
        """Remove what this run wrote (and the directory, if the run made it), so it can be reused."""
        with contextlib.suppress(OSError):
            for entry in self.path.iterdir():
                if entry.name not in self.before and entry.is_file():
                    entry.unlink()
            if self.created:
                self.path.rmdir()


def prepare_run_dir(run_dir: Path | None) -> RunDirectory:
    """Create (or check) the run directory: new, and writable (a file is created and removed)."""
    path = run_dir or default_run_dir()
    if (path / "meta.json").exists() or any(path.glob("events-*.bin")):
        raise UsageError(f"--run-dir {path}: already holds a run", hint="choose a new directory")
    existed = path.is_dir()
    try:
        before = frozenset(p.name for p in path.iterdir()) if existed else frozenset()
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".evtool-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"--run-dir {path}: cannot write there ({exc.strerror or exc})",
            hint="choose a directory on a writable filesystem",
        ) from None
    return RunDirectory(path, not existed, before)


def run(spec: RunSpec, *, on_snapshot: Callable[[Snapshot], None] | None = None) -> RunSummary:
    """Run `spec` to its end (or Ctrl-C) and return the summary read back from the log."""
    validate_target(spec.target)
    if spec.workers < 1 or spec.workers > 64:
        raise UsageError(f"--processes {spec.workers}: must be between 1 and 64")
    if spec.workers == 1:
        return _run_async(_single(spec, on_snapshot))
    return _multi(spec, on_snapshot)


# -- one process ---------------------------------------------------------------------------


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _primed(plan: Plan) -> Plan:
    """Take the first event now: building generators (schemas, pools) must not eat into the schedule."""
    prime = getattr(plan, "prime", None)
    if prime is not None:  # a GeneratedRun, a segment's MergedRun: keeps the plan's `rest_records`
        prime()
        return plan
    first = next(plan, None)
    return plan if first is None else itertools.chain([first], plan)


RUN_GC_THRESHOLD = 5000  # young objects between two collections of the youngest generation, in a run


def _settle_heap() -> None:
    """Collect now and freeze what start-up built (modules, schemas, pools) out of the collector's view.

    A full collection scans every tracked object: with start-up's hundreds of thousands that is
    a 15-25 ms pause holding the GIL, seen as a send-lag spike at 10,000 events/s. Frozen
    objects are not scanned; what the run allocates is collected as usual. Undone after the run
    (`_release_heap`).

    The youngest generation is collected every `RUN_GC_THRESHOLD` young objects instead of
    Python's 700: as fast as possible, one run of `SUBMIT_RUN` events (a few thousand objects,
    all alive until their messages are made) set off several collections that found nothing —
    measured on 300,000 Kafka events, 2,371 collections taking 0.46-0.65 s of the main thread,
    against 29 taking 37 ms (about 1.3 ms each on average, under the lag a fixed rate allows).
    A run's garbage is freed by reference counting; cycles are still collected, just later.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(RUN_GC_THRESHOLD, middle, oldest)


def _release_heap(thresholds: tuple[int, int, int]) -> None:
    """Undo `_settle_heap`: the frozen objects back in the collector's view, its thresholds as they were."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _plan(spec: RunSpec, shard: int) -> tuple[Plan, Iterator[EventBlock] | None]:
    """This shard's plan, or its blocks of pre-serialized events when the target sends those as they are.

    Blocks (`ReplayPlan.blocks`) serve structured and batch modes, whose bodies are the recorded
    JSON; binary mode needs each event's attributes as headers, so it takes the event plan.
    """
    blocks_of = getattr(spec.plan, "blocks", None)
    if blocks_of is not None and spec.target.mode in ("structured", "batch") and not spec.dispatch.stamp_time:
        blocks: Iterator[EventBlock] | None = blocks_of(shard, spec.workers)
        if blocks is not None:
            first = next(blocks, None)  # read and parse the first block before time zero
            return iter(()), (blocks if first is None else itertools.chain([first], blocks))
    return _primed(spec.plan(shard, spec.workers)), None


class _Stopper:
    """Ctrl-C / SIGTERM from the first moment of a run: before the dispatcher exists it is noted
    (the run then starts stopped, and ends with its summary and exit 130), after that it stops it."""

    def __init__(self) -> None:
        self.requests = 0
        self.dispatcher: Dispatcher | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)

    def attach(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        if self.requests:
            dispatcher.stop()

    def stop(self) -> None:
        self.requests += 1
        if self.dispatcher is not None:
            self.dispatcher.stop()

    @property
    def interrupted(self) -> bool:
        return self.requests > 0


def _time_zero(spec: RunSpec, clock: RunClock) -> int:
    """A moment after everything is ready, or the `--start-at` instant every segment shares.

    A start-at already past (this instance was late) keeps the shared time zero, so its
    schedule stays aligned with the other segments' and the late events count as late; one
    more than START_AT_LATE_S past is refused, because the catch-up burst would be the test.
    """
    ready = clock.now_ns() + START_LEAD_NS
    if spec.start_at_ns is None:
        return ready
    late_s = (ready - spec.start_at_ns) / 1e9
    if late_s > START_AT_LATE_S:
        raise UsageError(f"--start-at was {late_s:.1f} s ago when this instance was ready",
                         hint="give every instance an instant far enough ahead (e.g. +30s)")
    return spec.start_at_ns


def _end_ns(spec: RunSpec, start_ns: int) -> int | None:
    """When the run is over whatever the sender reached: the planned duration and a little slack."""
    if spec.planned_duration_s is None or spec.dispatch.as_fast_as_possible:
        return None
    return start_ns + int(spec.planned_duration_s * 1e9) + END_SLACK_NS


async def _single(spec: RunSpec, on_snapshot: Callable[[Snapshot], None] | None) -> RunSummary:
    thresholds = gc.get_threshold()
    stopper = _Stopper()
    stopper.install()
    target = make_target(spec.target)
    directory: RunDirectory | None = None
    started = False
    try:
        await target.open()
        plan, blocks = _plan(spec, 0)
        directory = prepare_run_dir(spec.run_dir)
        run_dir = directory.path
        _attach(target, run_dir, 0)
        clock = RunClock()
        remote = RemoteCollector(spec.remote_collector) if spec.remote_collector else None
        if remote is not None:  # before time zero, on the clock the dispatcher stamps with
            await remote.measure_start(clock)
        # the result source first: a Kafka consumer takes a moment to be positioned, and time zero
        # must come after it is
        async with _collector(spec, run_dir, clock) as collector:
            _settle_heap()
            start_ns = _time_zero(spec, clock)
            meta = _meta(spec, run_dir, start_ns)
            meta.transport = _settings(target)
            meta.collector_clock = _collector_clock(spec, remote)
            meta.write(run_dir)
            started = True
            watch = on_snapshot is not None or spec.live.abort_on_fail
            stats = _live_stats(spec, start_ns, run_dir if watch else None)

            def on_tick(tick: Tick) -> None:
                stats.update(tick)
                if watch:
                    snapshot = stats.snapshot(tick.at_ns)
                    if spec.live.abort_on_fail and stats.aborted_by and not dispatcher.stopping:
                        dispatcher.stop(interrupted=False)  # the objective is lost: more load proves nothing
                        meta.abort = _abort(stats)
                    if on_snapshot is not None:
                        on_snapshot(snapshot)

            writer = EventLogWriter(run_dir, 0)
            try:
                dispatcher = Dispatcher(
                    plan,
                    target,
                    writer,
                    clock,
                    start_ns=start_ns,
                    options=spec.dispatch,
                    on_tick=on_tick,
                    blocks=blocks,
                    end_ns=_end_ns(spec, start_ns),
                )
                stopper.attach(dispatcher)
                try:
                    result = await dispatcher.run()
                except EvtoolError as exc:  # the plan failed mid-run (an unreadable event)
                    _give_up(run_dir, meta, f"input cut short: {exc.message}")
                    raise
            finally:
                writer.close()
            error = result.error or writer.error
            if error is not None:
                _give_up(run_dir, meta, error.message)
                raise error
            if collector is not None and spec.collector is not None and not dispatcher.interrupted:
                async with _still_watching(stats, on_snapshot, clock, spec.dispatch.tick_s):
                    await _await_results(collector, dispatcher, run_dir, spec.collector.result_timeout_s,
                                         on_signal=stopper.stop)
        if collector is not None and collector.write_error:  # known once the source has closed
            meta.incomplete.append(collector.write_error)
        if remote is not None:  # the end's exchange bounds the drift across the run
            await remote.measure_end(clock)
            meta.collector_clock = remote.record()
        if collector is not None and on_snapshot is not None:  # the last results, on disk once it closed
            on_snapshot(stats.snapshot(clock.now_ns()))
    except BaseException:
        if directory is not None and not started:
            directory.discard()  # a failed start leaves nothing that a retry would call "already holds a run"
        raise
    finally:
        await target.close()
        _release_heap(thresholds)
    return _finish(run_dir, meta, stats, clock.now_ns(), dispatcher.interrupted or stopper.interrupted)


def _live_stats(spec: RunSpec, start_ns: int, run_dir: Path | None) -> LiveStats:
    """The run's live numbers; with `run_dir` also what its log says (results, backlog, objectives)."""
    return LiveStats(
        start_ns=start_ns,
        workers=spec.workers,
        planned_duration_s=spec.planned_duration_s,
        lag_bound_ns=int(spec.lag_bound_ms * 1e6),
        spec=completed(spec.live, spec.plan, as_fast_as_possible=spec.dispatch.as_fast_as_possible),
        run_dir=run_dir,
        collecting=spec.collector is not None,
        result_timeout_s=spec.collector.result_timeout_s if spec.collector is not None else None,
    )


def _abort(stats: LiveStats) -> dict[str, Any]:
    """meta.json's record of --abort-on-fail ending the run."""
    return {"objective": stats.abort_objective, "at_s": stats.abort_at_s, "reason": stats.aborted_by}


@contextlib.asynccontextmanager
async def _still_watching(stats: LiveStats, on_snapshot: Callable[[Snapshot], None] | None, clock: RunClock,
                          every_s: float) -> AsyncIterator[None]:
    """Snapshots while the run waits for late results (the senders tick no more): results still count."""
    if on_snapshot is None:
        yield
        return
    stats.waiting_for_results = True

    async def tick() -> None:
        while True:
            await asyncio.sleep(every_s)
            on_snapshot(stats.snapshot(clock.now_ns()))

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stats.waiting_for_results = False


def _give_up(run_dir: Path, meta: RunMeta, reason: str) -> None:
    """Record why the run cannot stand behind its numbers; best effort (meta may not be writable either).

    `ended_at` stays unset: the run did not end cleanly.
    """
    meta.incomplete.append(reason)
    with contextlib.suppress(OSError):
        meta.write(run_dir)


@contextlib.asynccontextmanager
async def _collector(spec: RunSpec, run_dir: Path, clock: RunClock) -> AsyncIterator[ResultSource | None]:
    """The run's result source (`--collect`, chosen by its scheme), ready before time zero."""
    if spec.collector is None:
        yield None
        return
    from evtool.load.sources import open_source

    async with open_source(spec.collector, run_dir, clock) as source:
        yield source


async def _await_results(
    source: ResultSource,
    dispatcher: Dispatcher,
    run_dir: Path,
    timeout_s: float,
    on_signal: Callable[[], None] | None = None,
) -> bool:
    """After the last send, wait until every acknowledged event has a distinct result, or the timeout.

    Counts come from the event log (the dispatch is over, its records are on disk): repeats
    and keys of other runs never shorten the wait. Ctrl-C / SIGTERM end it (and stop the
    dispatcher, so the run is marked interrupted): returns True then. Afterwards the signals
    go back to `on_signal` (default: `dispatcher.stop`).
    """
    if dispatcher.stopping:
        return True
    stop = asyncio.Event()

    def interrupt() -> None:
        stop.set()
        dispatcher.stop()

    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, interrupt)
            installed.append(sig)
    try:
        await source.expect(run_dir)
        outcome = await source.wait_for_results(timeout_s, stop)
    finally:
        for sig in installed:
            loop.add_signal_handler(sig, on_signal or dispatcher.stop)
    return outcome.stopped


# -- N processes ---------------------------------------------------------------------------


class _SourceThread:
    """The result source of a run with sender processes: in the parent, on its own thread and event loop.

    One source for all workers: it reads every shard's log when it matches, as `evtool collect`
    does, so no worker needs a consumer (a Kafka group of N would split the results topic).
    """

    def __init__(self, spec: CollectorSpec, run_dir: Path, clock: RunClock) -> None:
        self._spec = spec
        self._run_dir = run_dir
        self._clock = clock
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finish: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._wait = False
        self.stopped = False
        self.write_error: str | None = None
        self._thread = threading.Thread(target=self._main, name="evtool-results", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout_s: float) -> None:
        """Until the source is positioned (before time zero); its opening error is raised here."""
        if not self._ready.wait(timeout_s):
            raise TargetError(f"--collect {self._spec.address}: the result source did not open in time")
        if self._error is not None:
            raise self._error

    def finish(self, *, wait_for_results: bool) -> None:
        """Wait for the results of the acknowledged events (or not), close the source, join the thread."""
        if not self._thread.is_alive():
            return
        self._wait = wait_for_results
        while self._thread.is_alive():  # the thread may not have made its loop yet
            if self._loop is not None and self._finish is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    self._loop.call_soon_threadsafe(self._finish.set)
            self._thread.join(0.1)

    def stop(self) -> None:
        """Ctrl-C while waiting for results: stop waiting."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to stop
                self._loop.call_soon_threadsafe(self._stop.set)

    def _main(self) -> None:
        try:
            _run_async(self._run())
        except BaseException as exc:  # reported to the main thread
            self._error = self._error or exc
        finally:
            self._ready.set()

    async def _run(self) -> None:
        from evtool.load.sources import open_source

        self._loop = asyncio.get_running_loop()
        self._finish, self._stop = asyncio.Event(), asyncio.Event()
        source = open_source(self._spec, self._run_dir, self._clock)
        async with source:
            self._ready.set()
            await self._finish.wait()
            if self._wait and not self._stop.is_set():
                await source.expect(self._run_dir)
                outcome = await source.wait_for_results(self._spec.result_timeout_s, self._stop)
                self.stopped = outcome.stopped
        self.write_error = source.write_error


def _multi(spec: RunSpec, on_snapshot: Callable[[Snapshot], None] | None) -> RunSummary:
    # probe once here, so an unreachable target is one clear error before any process starts
    transport = _run_async(_probe(spec.target))
    directory = prepare_run_dir(spec.run_dir)
    run_dir = directory.path
    started = False
    failure: EvtoolError | None = None
    ctx = multiprocessing.get_context("spawn")
    messages: Any = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("q", 0)
    share = replace(spec.dispatch, max_in_flight=max(1, spec.dispatch.max_in_flight // spec.workers))
    target = replace(spec.target, max_in_flight=share.max_in_flight)
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(replace(spec, dispatch=share, target=target), run_dir, index, messages, go, start_at),
            name=f"evtool-sender-{index}",
            daemon=True,
        )
        for index in range(spec.workers)
    ]
    stop_requests = 0
    clock = RunClock()
    results = _SourceThread(spec.collector, run_dir, clock) if spec.collector is not None else None
    remote = RemoteCollector(spec.remote_collector) if spec.remote_collector else None

    def forward(signum: int, frame: object) -> None:
        nonlocal stop_requests
        stop_requests += 1
        if results is not None:
            results.stop()
        for process in processes:
            if process.pid is not None and process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if results is not None:  # opened while the workers start; positioned before time zero
            results.start()
        for process in processes:
            process.start()
        ready = 0
        deadline = time.monotonic() + READY_TIMEOUT_S
        while ready < spec.workers:
            kind, index, payload = _get(messages, deadline, processes)
            if kind == "error":
                _stop_all(processes)
                raise payload if isinstance(payload, EvtoolError) else TargetError(str(payload))
            if kind == "ready":
                ready += 1
            if stop_requests:
                _stop_all(processes)
                raise KeyboardInterrupt
        if results is not None:
            results.wait_ready(READY_TIMEOUT_S)
        if remote is not None:  # on the parent's clock: the workers' read this host's wall clock too
            _run_async(remote.measure_start(clock))
        start_ns = _time_zero(spec, clock)
        meta = _meta(spec, run_dir, start_ns)
        meta.transport = transport
        meta.collector_clock = _collector_clock(spec, remote)
        meta.write(run_dir)
        started = True
        start_at.value = start_ns
        go.set()
        watch = on_snapshot is not None or spec.live.abort_on_fail
        stats = _live_stats(spec, start_ns, run_dir if watch else None)
        finished: set[int] = set()
        while len(finished) < spec.workers:
            try:
                kind, index, payload = messages.get(timeout=spec.dispatch.tick_s)
            except queue.Empty:
                if all(not p.is_alive() for p in processes):
                    break  # a worker died without a goodbye; its shard is what it flushed
                continue
            if kind == "tick":
                stats.update(payload)
                if payload.finished:
                    finished.add(index)
                if watch:
                    snapshot = stats.snapshot(clock.now_ns())
                    if spec.live.abort_on_fail and stats.aborted_by and meta.abort is None:
                        meta.abort = _abort(stats)
                        _signal_all(processes)  # each sender stops as on SIGTERM; not an interrupt of the run
                    if on_snapshot is not None:
                        on_snapshot(snapshot)
            elif kind == "error":
                if isinstance(payload, EvtoolError):  # a write error, an unreadable event: the run stops
                    failure = failure or payload
                    forward(signal.SIGTERM, None)
                else:
                    meta.notes.append(f"worker {index}: {payload}")
        for process in processes:
            process.join(timeout=10)
        with contextlib.suppress(queue.Empty, OSError, EOFError):
            while True:  # an error sent after a worker's last tick
                kind, index, payload = messages.get(timeout=0.1)
                if kind == "error" and isinstance(payload, EvtoolError):
                    failure = failure or payload
        if results is not None:  # every shard is on disk: match, and wait for what is missing
            results.finish(wait_for_results=not stop_requests and failure is None)
            if results.stopped:
                stop_requests += 1
            if results.write_error:
                meta.incomplete.append(results.write_error)
        if remote is not None:
            _run_async(remote.measure_end(clock))
            meta.collector_clock = remote.record()
    except BaseException:
        if not started:
            directory.discard()
        raise
    finally:
        if results is not None:
            results.stop()
            results.finish(wait_for_results=False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(processes)
    if failure is not None:
        _give_up(run_dir, meta, failure.message)
        raise failure
    return _finish(run_dir, meta, stats, clock.now_ns(), stop_requests > 0)


def _get(messages: Any, deadline: float, processes: list[Any]) -> tuple[str, int, Any]:
    while True:
        try:
            item: tuple[str, int, Any] = messages.get(timeout=0.2)
            return item
        except queue.Empty:
            if time.monotonic() > deadline:
                raise TargetError("sender processes did not start in time") from None
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise TargetError(
                    f"sender process {dead[0].name} failed to start (exit {dead[0].exitcode})"
                ) from None


def _signal_all(processes: list[Any]) -> None:
    for process in processes:
        if process.pid is not None and process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)


def _stop_all(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.join(timeout=0.1)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


def _worker_main(spec: RunSpec, run_dir: Path, index: int, messages: Any, go: Any, start_at: Any) -> None:
    """Entry point of a sender process (spawned: module-level and picklable arguments only)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _run_async(_worker(spec, run_dir, index, messages, go, start_at))
    except EvtoolError as exc:
        messages.put(("error", index, exc))
    except Exception as exc:
        messages.put(("error", index, TargetError(f"worker {index}: {type(exc).__name__}: {exc}")))


async def _worker(spec: RunSpec, run_dir: Path, index: int, messages: Any, go: Any, start_at: Any) -> None:
    target = make_target(spec.target)
    await target.open()
    _attach(target, run_dir, index)
    plan, blocks = _plan(spec, index)
    _settle_heap()
    messages.put(("ready", index, None))
    loop = asyncio.get_running_loop()
    while not await loop.run_in_executor(None, go.wait, 0.5):
        pass
    clock = RunClock()
    writer = EventLogWriter(run_dir, index)
    try:
        dispatcher = Dispatcher(
            plan,
            target,
            writer,
            clock,
            start_ns=int(start_at.value),
            options=spec.dispatch,
            on_tick=lambda tick: messages.put(("tick", index, tick)),
            source=index,
            blocks=blocks,
            end_ns=_end_ns(spec, int(start_at.value)),
        )
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, dispatcher.stop)
        result = await dispatcher.run()
        if result.error is not None:
            raise result.error
    finally:
        writer.close()
        await target.close()


async def _probe(options: TargetOptions) -> dict[str, Any]:
    target = make_target(options)
    await target.open()
    try:
        return _settings(target)
    finally:
        await target.close()


def _attach(target: Target, run_dir: Path, shard: int) -> None:
    """Tell a target that keeps side files (Kafka's offsets) where this shard's go."""
    attach = getattr(target, "attach_run", None)
    if attach is not None:
        attach(run_dir, shard)


def _settings(target: Target) -> dict[str, Any]:
    """The transport's settings for the run's meta (Kafka's acks, linger, ...), when it states them."""
    settings = getattr(target, "settings", None)
    return dict(settings()) if settings is not None else {}


# -- start and end -------------------------------------------------------------------------


def _meta(spec: RunSpec, run_dir: Path, start_ns: int) -> RunMeta:
    collector = spec.collector
    return RunMeta(
        run_id=run_dir.name,
        command=list(spec.command),
        options=dict(spec.options),
        tool_version=__version__,
        target=spec.target.description,
        clock_origin_ns=start_ns,
        started_at=_iso(start_ns),
        workers=spec.workers,
        collector=collector.address if collector else None,
        correlate_by=collector.correlate_by if collector else None,
        result_timeout_ns=int(collector.result_timeout_s * 1e9) if collector else None,
        notes=list(spec.notes),
        scenario=spec.scenario,
        segment=spec.segment,
        segment_sequence=spec.segment_sequence,
        scenario_hash=spec.scenario_hash,
        start_at=_iso(spec.start_at_ns) if spec.start_at_ns is not None else None,
    )


def _collector_clock(spec: RunSpec, remote: RemoteCollector | None) -> dict[str, Any] | None:
    """meta.json's record of the clock results are stamped on: this run's own (`--collect` here: the
    HTTP collector in this process or a Kafka consumer on this host), or the remote collector's."""
    if remote is not None:
        return remote.record()
    return local_clock().to_meta() if spec.collector is not None else None


def _iso(ns: int) -> str:
    return (
        dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _finish(run_dir: Path, meta: RunMeta, stats: LiveStats, now_ns: int, interrupted: bool) -> RunSummary:
    meta.ended_at = _iso(now_ns)
    meta.interrupted = interrupted
    meta.notes.extend(stats.notes(now_ns))
    summary = summarize(run_dir, interrupted=interrupted, notes=meta.notes)
    if summary.dropped:
        meta.notes.append(f"{summary.dropped} events dropped (see the records' reason)")
    meta.write(run_dir)
    aborted_by = meta.abort.get("reason") if meta.abort else None
    return replace(summary, notes=tuple(meta.notes), aborted_by=aborted_by)


def summarize(run_dir: Path, *, interrupted: bool = False, notes: list[str] | None = None) -> RunSummary:
    """Counts, achieved rate and latency percentiles of a run, from its log."""
    log = read_run(run_dir)
    events = log.events
    status = events["status"]
    cancelled = events["reason"] == Reason.CANCELLED
    ok_mask = status == Status.OK
    sent = events["sent_ns"][events["sent_ns"] > 0]
    achieved = 0.0
    if len(sent) > 1:
        span = int(sent.max() - sent.min())
        achieved = (len(sent) - 1) / (span / 1e9) if span > 0 else 0.0
    acks = (events["ack_ns"][ok_mask] - events["intended_ns"][ok_mask]) / 1e6
    sent_mask = events["sent_ns"] > 0
    lags = (events["sent_ns"][sent_mask] - events["intended_ns"][sent_mask]) / 1e6
    return RunSummary(
        run_dir=run_dir,
        scheduled=len(events),
        ok=int(ok_mask.sum()),
        failed=int(((status == Status.FAILED) & ~cancelled).sum()),
        dropped=int(((status == Status.DROPPED) & ~cancelled).sum()),
        aborted=int(cancelled.sum()),
        achieved_rate=achieved,
        ack_p50_ms=float(np.percentile(acks, 50)) if len(acks) else None,
        ack_p99_ms=float(np.percentile(acks, 99)) if len(acks) else None,
        lag_p99_ms=float(np.percentile(lags, 99)) if len(lags) else None,
        lag_max_ms=float(lags.max()) if len(lags) else None,
        interrupted=interrupted,
        notes=tuple(notes or ()),
        failures=tuple(f.line for f in run_failures(run_dir)) if len(events) > int(ok_mask.sum()) else (),
    )


__all__ = ["CollectorSpec", "DispatchResult", "RunSpec", "RunSummary", "default_run_dir", "run", "summarize"]
