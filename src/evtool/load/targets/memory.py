"""An in-memory target for tests, like httpx's `MockTransport`: a handler decides each outcome.

    target = MemoryTarget(lambda events: SendResult(Status.FAILED, Reason.TRANSPORT, detail="BOOM: no"))

The handler gets each request's events and returns a `SendResult` (or an awaitable of one, to
take time like a real target); with no handler every request is acknowledged. What was sent is
kept in `requests`. `--target memory:NAME` finds a handler registered with `register_handler`
in this process (a test that runs the CLI in-process); `memory:` alone acknowledges everything.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

from evtool.errors import TargetError, UsageError
from evtool.load.targets.base import OK_RESULT, OutEvent, SendResult, Target, TargetOptions
from evtool.load.targets.registry import AsyncTarget, TransportSpec, register

Handler = Callable[[Sequence[OutEvent]], SendResult | Awaitable[SendResult]]
_HANDLERS: dict[str, Handler] = {}


def register_handler(name: str, handler: Handler) -> None:
    """Make `--target memory:NAME` answer with `handler` (in this process)."""
    _HANDLERS[name] = handler


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


def _make(options: TargetOptions) -> Target:
    name = options.target.partition(":")[2].lstrip("/")
    return MemoryTarget(_HANDLERS.get(name), name=name)


def _validate(options: TargetOptions) -> None:
    name = options.target.partition(":")[2].lstrip("/")
    if name and name not in _HANDLERS:
        raise UsageError(
            f"--target memory:{name}: no handler registered under that name in this process",
            hint="use memory: (acknowledges everything) or register_handler() first",
        )


register(TransportSpec(("memory",), _make, "memory:[NAME] (tests: a handler decides each outcome)",
                       _validate))
