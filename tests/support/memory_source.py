"""A result source that is not HTTP, registered under ``memory://NAME``: proof that the seam is one.

Results "arrive" when something calls `deliver(name, correlation value)` from any thread;
the source stamps them on the run clock and appends them through the same `ResultLedger`
every source uses. `install()` registers the scheme (idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from types import TracebackType

from evtool.errors import UsageError
from evtool.load.sources import SourceKind, register_source
from evtool.load.sources.base import CollectorSpec, ResultLedger, SourceCounts, WaitOutcome
from evtool.results.clock import RunClock
from evtool.results.runlog import correlation_key

_RUNNING: dict[str, MemorySource] = {}
_LOCK = threading.Lock()


class MemorySource:
    def __init__(self, name: str, run_dir: Path, clock: RunClock) -> None:
        self.name = name
        self.run_dir = run_dir
        self.clock = clock
        self._counts = SourceCounts()
        self._ledger: ResultLedger | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None

    @property
    def counts(self) -> SourceCounts:
        return self._counts

    @property
    def write_error(self) -> str | None:
        return self._ledger.write_error if self._ledger is not None else None

    @property
    def description(self) -> str:
        return f"memory://{self.name}"

    async def __aenter__(self) -> MemorySource:
        self._ledger = ResultLedger(self.run_dir, 0, self._counts)
        self._loop = asyncio.get_running_loop()
        self._flusher = asyncio.create_task(self._ledger.flush_periodically())
        with _LOCK:
            _RUNNING[self.name] = self
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        with _LOCK:
            _RUNNING.pop(self.name, None)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._ledger is not None:
            self._ledger.close()
        self._counts.write(self.run_dir, 0)

    def _arrive(self, value: str) -> None:
        if self._ledger is not None:
            self._counts.requests += 1
            self._ledger.append(correlation_key(value), self.clock.now_ns())

    async def expect(self, run_dir: Path) -> None:
        assert self._ledger is not None
        await self._ledger.expect(run_dir)

    async def wait_for_results(self, timeout_s: float, stop: asyncio.Event | None = None) -> WaitOutcome:
        assert self._ledger is not None
        return await self._ledger.wait_for_results(timeout_s, stop)


def deliver(name: str, value: str) -> None:
    """A result for source `name`, from any thread (dropped when it is not running, like a lost post)."""
    with _LOCK:
        source = _RUNNING.get(name)
    if source is not None and source._loop is not None:
        source._loop.call_soon_threadsafe(source._arrive, value)


def _check(address: str) -> None:
    if not address.removeprefix("memory://"):
        raise UsageError(f"--collect {address!r}: expected memory://NAME")


def open_source(spec: CollectorSpec, run_dir: Path, clock: RunClock) -> MemorySource:
    return MemorySource(spec.address.removeprefix("memory://"), run_dir, clock)


def install() -> None:
    register_source(SourceKind("memory", _check, __name__))
