"""The reference consumer as an HTTP service: accept, queue, decide, post the result.

Shaped like real event-driven AI consumers: the HTTP front answers 202 at once, a fixed pool
of workers drains a queue, and each decision takes a service time. Past its capacity
(workers / service time) the queue grows and end-to-end latency with it, which is exactly
what `evtool demo --overload` shows.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from evtool.consumer.decisions import decide
from evtool.errors import InputError
from evtool.events.envelope import CONTENT_TYPE_STRUCTURED, CloudEvent

RESULT_SOURCE = "evtool/reference-consumer"


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    workers: int = 4
    service_time_s: float = 0.05  # mean time a decision takes (the model's inference time)
    service_jitter: float = 0.2  # ± share of service time, uniform
    queue_limit: int = 100_000  # beyond it, new events get 503 with Retry-After
    results_url: str | None = None  # where result events are POSTed (the collector)
    seed: int = 0

    @property
    def capacity_per_s(self) -> float:
        return self.workers / self.service_time_s if self.service_time_s > 0 else float("inf")


@dataclass(slots=True)
class ConsumerStats:
    received: int = 0
    rejected: int = 0
    invalid: int = 0
    decided: int = 0
    results_posted: int = 0
    results_failed: int = 0
    max_queue: int = 0
    decisions: dict[str, int] = field(default_factory=dict)


class ReferenceConsumer:
    """Run with `async with ReferenceConsumer(settings).serving(host, port) as address:`."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self.settings = settings
        self.stats = ConsumerStats()
        self._queue: asyncio.Queue[CloudEvent] = asyncio.Queue(maxsize=settings.queue_limit)
        self._rng = random.Random(settings.seed)
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/healthz", self._health)
        app.router.add_post("/{tail:.*}", self._accept)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(8, self.settings.workers)),
            timeout=aiohttp.ClientTimeout(total=10),
        )
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.settings.workers)]
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=2048)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise InputError(
                f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port"
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname() if sockets else (host, port)
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "queue": self._queue.qsize()})

    async def _accept(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            events = CloudEvent.from_http(request.headers, body)
        except InputError as exc:
            self.stats.invalid += 1
            return web.json_response({"error": exc.message}, status=400)
        accepted = 0
        for event in events:
            try:
                self._queue.put_nowait(event)
                accepted += 1
            except asyncio.QueueFull:
                self.stats.rejected += len(events) - accepted
                return web.json_response(
                    {"error": "queue full"}, status=503, headers={"Retry-After": "1"}
                )
        self.stats.received += accepted
        self.stats.max_queue = max(self.stats.max_queue, self._queue.qsize())
        return web.Response(status=202)

    async def _work(self) -> None:
        settings = self.settings
        while True:
            event = await self._queue.get()
            jitter = 1.0 + self._rng.uniform(-settings.service_jitter, settings.service_jitter)
            await asyncio.sleep(max(0.0, settings.service_time_s * jitter))
            result_type, decision = decide(event.type, event.data)
            self.stats.decided += 1
            self.stats.decisions[result_type] = self.stats.decisions.get(result_type, 0) + 1
            if settings.results_url and self._session is not None:
                await self._post_result(self._session, settings.results_url, event, result_type, decision)

    async def _post_result(
        self,
        session: aiohttp.ClientSession,
        url: str,
        cause: CloudEvent,
        result_type: str,
        decision: dict[str, object],
    ) -> None:
        result = CloudEvent(
            id=str(uuid.uuid4()),
            source=RESULT_SOURCE,
            type=result_type,
            time=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            data={"decision": decision, "cause_type": cause.type},
            extensions={"correlationid": cause.id, "causationid": cause.id},
        )
        try:
            async with session.post(
                url,
                data=result.to_json_bytes(),
                headers={"content-type": CONTENT_TYPE_STRUCTURED},
            ) as response:
                await response.read()
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.stats.results_posted += 1
        else:
            self.stats.results_failed += 1
