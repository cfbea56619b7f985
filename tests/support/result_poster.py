"""A system under test that posts results back: a real aiohttp server on 127.0.0.1 in a thread.

It accepts CloudEvents in any HTTP content mode (202), and for each event posts a result
(`{"correlationid": <event id>}`) to a collector after `delay_s`; every `duplicate_every`-th
event's result is posted twice (the duplicate first, at once), and `foreign_every` adds a
result naming an id of another run. What it posted is kept, so a test can check the
collector's counts against the poster's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from evtool.events.envelope import CloudEvent
from evtool.results.runlog import EventIds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ResultPoster:
    collector_url: str
    delay_s: float = 0.3
    duplicate_every: int = 0  # 10: every tenth event's result twice
    foreign_every: int = 0  # 10: a result of another run after every tenth event
    post_results: bool = True
    deliver: Callable[[str], None] | None = None  # instead of an HTTP post (a test's own result source)
    url: str = ""  # where to send events (set once serving)
    received: int = 0
    posted: int = 0
    duplicates: int = 0
    foreign: int = 0
    failed_posts: int = 0
    _foreign_ids: EventIds = field(default_factory=lambda: EventIds(0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def _post(self, session: aiohttp.ClientSession, correlation: str) -> None:
        if self.deliver is not None:
            self.deliver(correlation)
            with self._lock:
                self.posted += 1
            return
        try:
            async with session.post(self.collector_url, json={"correlationid": correlation}) as response:
                await response.read()
                ok = response.status == 202
        except aiohttp.ClientError:
            ok = False
        with self._lock:
            if ok:
                self.posted += 1
            else:
                self.failed_posts += 1

    async def _result(self, session: aiohttp.ClientSession, event_id: str, number: int) -> None:
        if self.duplicate_every and number % self.duplicate_every == 0:
            await self._post(session, event_id)
            self.duplicates += 1
        if self.foreign_every and number % self.foreign_every == 0:
            await self._post(session, self._foreign_ids.next()[0])
            self.foreign += 1
        await asyncio.sleep(self.delay_s)
        await self._post(session, event_id)


@contextlib.contextmanager
def serving(poster: ResultPoster) -> Iterator[ResultPoster]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    tasks: set[asyncio.Task[None]] = set()
    holder: dict[str, object] = {}

    async def handle(request: web.Request) -> web.Response:
        events = CloudEvent.from_http(request.headers, await request.read())
        session = holder["session"]
        assert isinstance(session, aiohttp.ClientSession)
        for event in events:
            poster.received += 1
            if poster.post_results:
                task = asyncio.create_task(poster._result(session, event.id, poster.received))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        return web.Response(status=202)

    async def start() -> web.AppRunner:
        holder["session"] = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        poster.url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
        return runner

    async def finish(runner: web.AppRunner) -> None:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session = holder["session"]
        assert isinstance(session, aiohttp.ClientSession)
        await session.close()
        await runner.cleanup()

    def serve() -> None:
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(finish(runner))
        loop.close()

    thread = threading.Thread(target=serve, daemon=True, name="result-poster")
    thread.start()
    assert ready.wait(10), "result poster did not start"
    try:
        yield poster
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def other_run_id() -> str:
    """A structured id of some other run (another nonce)."""
    return EventIds(0).next()[0]


def random_id() -> str:
    return str(uuid.uuid4())
