"""A target that keeps its own count: a real aiohttp server on 127.0.0.1 in a thread of its own.

It answers every event request 202 and counts the events it received (one per request in
binary mode, the array's length in batch mode), so a test can hold the run log against an
independent count (after kill -9: what was sent and never logged). With `collector` set it
also posts each event's result (`{"correlationid": <ce-id>}`) to that collector, and counts
the results the collector answered 202 to (what must reach the results log).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class CountingSink:
    url: str = ""
    collector: str | None = None  # "host:port" to post a result per event to
    delay_s: float = 0.0  # how long each answer takes (requests in flight at a stop)
    events: int = 0  # events received (and answered 202)
    results_accepted: int = 0  # result posts the collector answered 202 to
    results_failed: int = 0  # result posts that failed (collector gone, refused)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.events, self.results_accepted


@contextlib.contextmanager
def counting_sink(collector: str | None = None, *, delay_s: float = 0.0) -> Iterator[CountingSink]:
    """Serve a `CountingSink` until the block ends; result posts still on their way are awaited."""
    sink = CountingSink(collector=collector, delay_s=delay_s)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    posts: set[asyncio.Task[None]] = set()
    holder: dict[str, object] = {}

    async def post_result(session: aiohttp.ClientSession, event_id: str) -> None:
        try:
            async with session.post(f"http://{sink.collector}/results",
                                    data=orjson.dumps({"correlationid": event_id}),
                                    headers={"Content-Type": "application/json"}) as answer:
                accepted = answer.status == 202
        except (TimeoutError, aiohttp.ClientError, OSError):
            accepted = False
        with sink.lock:
            if accepted:
                sink.results_accepted += 1
            else:
                sink.results_failed += 1

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        ids: list[str] = []
        if "ce-id" in request.headers:
            ids = [request.headers["ce-id"]]
        else:
            parsed = orjson.loads(body) if body else None
            items = parsed if isinstance(parsed, list) else [parsed]
            ids = [str(item.get("id")) for item in items if isinstance(item, dict)]
        with sink.lock:
            sink.events += len(ids)
        if sink.delay_s:
            await asyncio.sleep(sink.delay_s)
        session = holder.get("session")
        if isinstance(session, aiohttp.ClientSession):
            for event_id in ids:
                task = asyncio.create_task(post_result(session, event_id))
                posts.add(task)
                task.add_done_callback(posts.discard)
        return web.Response(status=202)

    async def start() -> web.AppRunner:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
        if collector is not None:
            holder["session"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return runner

    async def finish(runner: web.AppRunner) -> None:
        if posts:
            await asyncio.wait(list(posts), timeout=10)
        session = holder.get("session")
        if isinstance(session, aiohttp.ClientSession):
            await session.close()
        await runner.cleanup()

    def serve() -> None:
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(finish(runner))
        loop.close()

    thread = threading.Thread(target=serve, name="counting-sink", daemon=True)
    thread.start()
    assert ready.wait(10), "counting sink did not start"
    try:
        yield sink
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)


def settle(sink: CountingSink, quiet_s: float = 0.5, limit_s: float = 15.0) -> tuple[int, int]:
    """The sink's counts once nothing has changed for `quiet_s` (requests and posts still arriving)."""
    import time

    deadline = time.monotonic() + limit_s
    last = sink.counts()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = sink.counts()
        if now == last:
            return now
        last = now
    return last
