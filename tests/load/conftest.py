"""A real HTTP sink on 127.0.0.1 (aiohttp.web in a background thread) that records what arrives."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class Arrival:
    at_ns: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Sink:
    """Records every request; `behaviour` decides the answer (default 202)."""

    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    behaviour: Callable[[int], Any] | None = None  # request number -> (status, headers, delay_s)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Take the server down now (refusing new connections), as a crashing service would."""
        for stopper in self.stoppers:
            stopper()

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def _serve(sink: Sink, ready: threading.Event, stop: list[Callable[[], None]]) -> None:
    loop = asyncio.new_event_loop()

    async def handle(request: web.Request) -> web.Response:
        at = time.time_ns()
        body = await request.read()
        with sink.lock:
            number = len(sink.arrivals)
            sink.arrivals.append(Arrival(at, dict(request.headers), body))
        status, headers, delay = 202, {}, 0.0
        if sink.behaviour is not None:
            status, headers, delay = sink.behaviour(number)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers)

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        sink.url = f"http://127.0.0.1:{port}/events"
        return runner

    runner = loop.run_until_complete(start())
    stop.append(lambda: _call(loop, loop.stop))
    stopped = threading.Event()

    def shutdown() -> None:
        if not stopped.is_set():
            stopped.set()
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)

    sink.stoppers.append(shutdown)
    ready.set()
    loop.run_forever()
    if not stopped.is_set():
        loop.run_until_complete(runner.cleanup())
    loop.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    result = Sink()
    ready = threading.Event()
    stop: list[Callable[[], None]] = []
    thread = threading.Thread(target=_serve, args=(result, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(5)
    yield result
    stop[0]()
    thread.join(5)


def _call(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    loop.call_soon_threadsafe(callback)
