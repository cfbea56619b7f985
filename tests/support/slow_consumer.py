"""A consumer with a fixed capacity: it acknowledges every event at once (202) and posts each
event's result to a collector only when its workers get to it, so under a rate above its
capacity acknowledgements stay fast while end-to-end latency grows (the overload the live view
must show). 127.0.0.1 only; what it posted is counted, for tests to hold the view against.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from tests.support.http_servers import serve_in_thread


@dataclass
class SlowConsumer:
    collector_url: str  # http://127.0.0.1:PORT/results
    workers: int = 1
    service_s: float = 0.02  # per event and worker: capacity = workers / service_s events/s
    url: str = ""
    received: int = 0
    posted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def capacity_per_s(self) -> float:
        return self.workers / self.service_s

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return self.received, self.posted


@contextlib.contextmanager
def slow_consumer(collector: str, *, workers: int = 1, service_s: float = 0.02) -> Iterator[SlowConsumer]:
    """Serve a `SlowConsumer` posting to `collector` ("host:port") until the block ends."""
    consumer = SlowConsumer(f"http://{collector}/results", workers, service_s)
    queue: asyncio.Queue[str] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    sessions: list[aiohttp.ClientSession] = []

    async def work() -> None:
        while True:
            event_id = await queue.get()
            await asyncio.sleep(consumer.service_s)
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                result = {"correlationid": event_id}
                async with sessions[0].post(consumer.collector_url, json=result) as answer:
                    if answer.status == 202:
                        with consumer.lock:
                            consumer.posted += 1

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        event_id = request.headers.get("ce-id")
        if event_id is None:
            return web.Response(status=400, text="binary mode only")
        with consumer.lock:
            consumer.received += 1
        queue.put_nowait(event_id)
        return web.Response(status=202)

    async def startup() -> None:
        sessions.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)))
        tasks.extend(asyncio.create_task(work()) for _ in range(workers))

    async def cleanup() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sessions[0].close()

    with serve_in_thread(handle, startup=startup, cleanup=cleanup, name="slow-consumer") as server:
        consumer.url = server.url
        yield consumer
