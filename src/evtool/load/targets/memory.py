"""An in-memory target for tests, like httpx's `MockTransport`: a handler decides each outcome.

    target = MemoryTarget(lambda events: SendResult(Status.FAILED, Reason.TRANSPORT, detail="BOOM: no"))

The handler gets each request's events and returns a `SendResult` (or an awaitable of one, to
take time like a real target); with no handler every request is acknowledged. What was sent is
kept in `requests`. `--target memory:NAME` finds a handler registered with `register_handler`
in this process (a test that runs the CLI in-process); `memory:` alone acknowledges everything.

`SubmittingMemoryTarget` is the same through the dispatcher's submit path (`Submitter`, as Kafka
takes events): a DROPPED outcome is returned at once (refused locally, like a full queue), any
other is reported through `on_done` on a later loop turn, or when the handler's awaitable ends
(one that never ends is a request never answered).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence

from evtool.errors import TargetError, UsageError
from evtool.load.targets.base import OK_RESULT, OnDone, OutEvent, SendResult, Target, TargetOptions
from evtool.load.targets.registry import AsyncTarget, TransportSpec, register
from evtool.results.runlog import Reason, Status

Handler = Callable[[Sequence[OutEvent]], SendResult | Awaitable[SendResult]]
_HANDLERS: dict[str, tuple[Handler, bool]] = {}


def register_handler(name: str, handler: Handler, *, submit: bool = False) -> None:
    """Make `--target memory:NAME` answer with `handler` (in this process); `submit`: through
    the dispatcher's submit path (`SubmittingMemoryTarget`)."""
    _HANDLERS[name] = (handler, submit)


class MemoryTarget(AsyncTarget):
    def __init__(
        self, handler: Handler | None = None, *, name: str = "", fail_open: str | None = None
    ) -> None:
        """`fail_open`: a reason to refuse `open()` with, to test what happens before time zero."""
        self._handler = handler
        self._name = name
        self._fail_open = fail_open
        self.requests: list[list[OutEvent]] = []
        self.opened = False
        self.closed = False

    @property
    def description(self) -> str:
        return f"memory:{self._name}"

    async def open(self) -> None:
        if self._fail_open is not None:
            raise TargetError(f"target memory:{self._name}: {self._fail_open}")
        self.opened = True

    async def send(self, events: Sequence[OutEvent]) -> SendResult:
        self.requests.append(list(events))
        if self._handler is None:
            return OK_RESULT
        result = self._handler(events)
        if inspect.isawaitable(result):
            return await result
        return result

    async def close(self) -> None:
        self.closed = True


class SubmittingMemoryTarget(MemoryTarget):
    def __init__(
        self, handler: Handler | None = None, *, name: str = "", fail_open: str | None = None
    ) -> None:
        super().__init__(handler, name=name, fail_open=fail_open)
        self._waiting: set[asyncio.Future[SendResult]] = set()

    def submit(self, events: Sequence[OutEvent], on_done: OnDone) -> SendResult | None:
        self.requests.append(list(events))
        result = OK_RESULT if self._handler is None else self._handler(events)
        loop = asyncio.get_running_loop()
        if not inspect.isawaitable(result):
            if result.status is Status.DROPPED:
                return result
            loop.call_soon(on_done, result)
            return None
        later = asyncio.ensure_future(result)
        self._waiting.add(later)

        def answered(done: asyncio.Future[SendResult]) -> None:
            self._waiting.discard(done)
            if done.cancelled():
                return
            error = done.exception()
            on_done(done.result() if error is None else SendResult(Status.FAILED, Reason.OTHER,
                                                                   detail=f"{type(error).__name__}: {error}"))

        later.add_done_callback(answered)
        return None

    async def close(self) -> None:
        for later in list(self._waiting):  # never answered: as a broker's purge, no report
            later.cancel()
        self._waiting.clear()
        await super().close()


def _make(options: TargetOptions) -> Target:
    name = options.target.partition(":")[2].lstrip("/")
    handler, submit = _HANDLERS.get(name, (None, False))
    kind = SubmittingMemoryTarget if submit else MemoryTarget
    return kind(handler, name=name)


def _validate(options: TargetOptions) -> None:
    name = options.target.partition(":")[2].lstrip("/")
    if name and name not in _HANDLERS:
        raise UsageError(
            f"--target memory:{name}: no handler registered under that name in this process",
            hint="use memory: (acknowledges everything) or register_handler() first",
        )


register(TransportSpec(("memory",), _make, "memory:[NAME] (tests: a handler decides each outcome)",
                       _validate))
