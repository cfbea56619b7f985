"""An HTTP event sink on 127.0.0.1 that answers each request with the status a test chooses.

A real aiohttp server in a thread of its own, so a real `evtool` process can send to it; it
counts what it answered, the independent count a report is checked against.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class StatusSink:
    """`status(n)` is the answer to the n-th request (from 0); `answered` counts by status."""

    status: Callable[[int], int] = lambda n: 202
    url: str = ""
    answered: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        with self.lock:
            return sum(self.answered.values())

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        with self.lock:
            n = sum(self.answered.values())
            code = self.status(n)
            self.answered[code] = self.answered.get(code, 0) + 1
        return web.Response(status=code)


@contextlib.contextmanager
def status_sink(status: Callable[[int], int] = lambda n: 202) -> Iterator[StatusSink]:
    """Serve until the block ends; `sink.url` is its /events URL."""
    sink = StatusSink(status=status)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/{tail:.*}", sink._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
        return runner

    def serve() -> None:
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the sink did not start"
    try:
        yield sink
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
