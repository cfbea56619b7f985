"""Real HTTP servers on 127.0.0.1 for evtool to send to, each in a thread of its own.

A thread of its own, so an in-process run and a real `evtool` subprocess can both talk to it,
and so it keeps the independent count a run log or a report is checked against:

- `serve_in_thread`: the threaded aiohttp server every sink here runs on;
- `recording_sink` / `RecordingSink` (the `sink` fixture): keeps every request (arrival time,
  headers, body), answers what `behaviour(n)` says (status, headers, delay), can be taken down
  mid-run; `status_sink` is one that answers by status only;
- `counting_sink` / `CountingSink`: counts the events it received (batch arrays by length) and,
  given a collector, posts each one's result there and counts the 202s (kill -9 gaps);
- `ResultPoster` (served by `serving`): a system under test that posts results after a delay, with
  duplicates and results of other runs on demand;
- `faulty_server` / `FaultyHttpServer`: a raw asyncio server that breaks HTTP as it is told
  (hang-ups, resets, garbage, closes without `Connection: close`); `silent_listener`: never accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp
import orjson
from aiohttp import web

from evtool.events.envelope import CloudEvent
from evtool.results.runlog import EventIds

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_port() -> int:
    """A port nothing listens on now (for a collector the test starts later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ThreadedServer:
    """A running `serve_in_thread` server: its address, and `shut_down()` to refuse connections now."""

    port: int
    loop: asyncio.AbstractEventLoop
    runner: web.AppRunner
    _down: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def shut_down(self) -> None:
        """Take the server down now, as a crashing service would (idempotent)."""
        if not self._down.is_set():
            self._down.set()
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)


@contextlib.contextmanager
def serve_in_thread(
    handle: Handler,
    *,
    method: str = "POST",
    client_max_size: int = 1024**2,
    startup: Callable[[], Awaitable[None]] | None = None,
    cleanup: Callable[[], Awaitable[None]] | None = None,
    name: str = "http-server",
) -> Iterator[ThreadedServer]:
    """Serve `handle` for every path until the block ends. `startup` runs in the server's loop
    before the first request (e.g. to open a client session); `cleanup` after the block, before
    the server closes (e.g. to await the posts still on their way)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: list[ThreadedServer] = []

    async def start() -> None:
        app = web.Application(client_max_size=client_max_size)
        app.router.add_route(method, "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        if startup is not None:
            await startup()
        started.append(ThreadedServer(runner.addresses[0][1], loop, runner))

    async def finish() -> None:
        if cleanup is not None:
            await cleanup()
        if not started[0]._down.is_set():
            await started[0].runner.cleanup()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(finish())
        loop.close()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    assert ready.wait(10), f"{name} did not start"
    try:
        yield started[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)


# -- a sink that keeps every request --------------------------------------------------------------


class Arrival(NamedTuple):
    at_ns: int  # wall clock when the request arrived
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingSink:
    """Records every request; `behaviour(n)` decides the answer to the n-th (default: 202 at once).

    `answered` counts the answers by status (what a report's counts are checked against).
    """

    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    behaviour: Callable[[int], tuple[int, dict[str, str], float]] | None = None
    answered: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Take the server down now (refusing new connections), as a crashing service would."""
        for stopper in self.stoppers:
            stopper()

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)

    @property
    def requests(self) -> int:
        return self.count()

    async def _handle(self, request: web.Request) -> web.Response:
        at = time.time_ns()
        body = await request.read()
        with self.lock:
            number = len(self.arrivals)
            self.arrivals.append(Arrival(at, dict(request.headers), body))
        status, headers, delay = 202, {}, 0.0
        if self.behaviour is not None:
            status, headers, delay = self.behaviour(number)
        with self.lock:
            self.answered[status] = self.answered.get(status, 0) + 1
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers)


@contextlib.contextmanager
def recording_sink(
    behaviour: Callable[[int], tuple[int, dict[str, str], float]] | None = None,
) -> Iterator[RecordingSink]:
    """Serve a `RecordingSink` until the block ends; `sink.url` is its /events URL."""
    sink = RecordingSink(behaviour=behaviour)
    with serve_in_thread(sink._handle, name="recording-sink") as server:
        sink.url = server.url
        sink.stoppers.append(server.shut_down)
        yield sink


@contextlib.contextmanager
def status_sink(status: Callable[[int], int] = lambda n: 202) -> Iterator[RecordingSink]:
    """A sink that answers the n-th request (from 0) with `status(n)`; `sink.answered` by status."""
    with recording_sink(lambda n: (status(n), {}, 0.0)) as sink:
        yield sink


# -- a sink that counts events and can post their results ----------------------------------------


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
    """A target that keeps its own count of events (one per request in binary mode, the array's
    length in batch mode), so a test can hold the run log against it (after kill -9: what was sent
    and never logged). With `collector` it posts each event's result (`{"correlationid": <ce-id>}`)
    there and counts the 202s (what must reach the results log); posts on their way are awaited."""
    sink = CountingSink(collector=collector, delay_s=delay_s)
    posts: set[asyncio.Task[None]] = set()
    sessions: list[aiohttp.ClientSession] = []

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
        for session in sessions:
            for event_id in ids:
                task = asyncio.create_task(post_result(session, event_id))
                posts.add(task)
                task.add_done_callback(posts.discard)
        return web.Response(status=202)

    async def startup() -> None:
        if collector is not None:
            sessions.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)))

    async def cleanup() -> None:
        if posts:
            await asyncio.wait(list(posts), timeout=10)
        for session in sessions:
            await session.close()

    with serve_in_thread(handle, method="*", client_max_size=64 * 1024 * 1024, startup=startup,
                         cleanup=cleanup, name="counting-sink") as server:
        sink.url = server.url
        yield sink


def settle(sink: CountingSink, quiet_s: float = 0.5, limit_s: float = 15.0) -> tuple[int, int]:
    """The sink's counts once nothing has changed for `quiet_s` (requests and posts still arriving)."""
    deadline = time.monotonic() + limit_s
    last = sink.counts()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = sink.counts()
        if now == last:
            return now
        last = now
    return last


# -- a system under test that posts results back ------------------------------------------------


@dataclass
class ResultPoster:
    """Accepts CloudEvents in any HTTP content mode (202), and for each event posts a result
    (`{"correlationid": <event id>}`) to `collector_url` after `delay_s`; every `duplicate_every`-th
    event's result is posted twice (the duplicate first, at once), and `foreign_every` adds a result
    naming an id of another run. What it posted is kept, to check the collector's counts against."""

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
    """Serve `poster` until the block ends (results not yet posted then are cancelled)."""
    tasks: set[asyncio.Task[None]] = set()
    sessions: list[aiohttp.ClientSession] = []

    async def handle(request: web.Request) -> web.Response:
        events = CloudEvent.from_http(request.headers, await request.read())
        for event in events:
            poster.received += 1
            if poster.post_results:
                task = asyncio.create_task(poster._result(sessions[0], event.id, poster.received))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        return web.Response(status=202)

    async def startup() -> None:
        sessions.append(aiohttp.ClientSession())

    async def cleanup() -> None:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sessions[0].close()

    with serve_in_thread(handle, startup=startup, cleanup=cleanup, name="result-poster") as server:
        poster.url = server.url
        yield poster


def other_run_id() -> str:
    """A structured id of some other run (another nonce)."""
    return EventIds(0).next()[0]


def random_id() -> str:
    return str(uuid.uuid4())


# -- servers that break HTTP ---------------------------------------------------------------------

OK_ANSWER = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"


class Fault(enum.Enum):
    NONE = "answer, keep the connection"
    BAD_GATEWAY = "answer 502 (retryable), keep the connection"
    CLOSE_AFTER = "answer, then close (without Connection: close)"
    HANG_UP = "read the request, close without answering"
    RESET = "read the request, reset the connection"
    GARBAGE = "answer with bytes that are not HTTP"
    PARTIAL = "answer half a head, then close"


@dataclass
class Request:
    head: bytes
    body: bytes
    connection: int  # which connection (in accept order) it came on
    position: int  # its place on that connection, from 0


@dataclass
class FaultyHttpServer:
    """A raw asyncio server (not aiohttp: it must be able to break HTTP) that parses each request
    (head and Content-Length body), counts it, and does what `fault(request)` says (default: answer).

    `close_delay_s` delays the hang-up after a CLOSE_AFTER answer, so a client that reuses the
    connection meanwhile writes into a connection that is about to go (the keep-alive race).
    """

    fault: Callable[[Request], Fault] = lambda request: Fault.NONE
    close_delay_s: float = 0.0
    requests: list[Request] = field(default_factory=list)
    answered: int = 0
    connections: int = 0
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def received(self) -> int:
        with self.lock:
            return len(self.requests)

    def heads(self) -> list[bytes]:
        with self.lock:
            return [r.head for r in self.requests]

    def start(self) -> FaultyHttpServer:
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def serve() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                loop.create_server(lambda: _Connection(self), "127.0.0.1", 0, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=serve, name="faulty-http", daemon=True)
        self._thread.start()
        assert ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = None


class _Connection(asyncio.Protocol):
    def __init__(self, server: FaultyHttpServer) -> None:
        self.server = server
        self.buffer = b""
        self.position = 0
        self.done = False
        self.transport: asyncio.Transport | None = None
        with server.lock:
            self.number = server.connections
            server.connections += 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.done:  # after a hang-up was decided: what comes now is never read
            return
        self.buffer += data
        while not self.done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            request = Request(head, body, self.number, self.position)
            self.position += 1
            server = self.server
            with server.lock:
                server.requests.append(request)
            self._act(server.fault(request))

    def _act(self, fault: Fault) -> None:
        transport = self.transport
        assert transport is not None
        server = self.server
        if fault in (Fault.NONE, Fault.CLOSE_AFTER):
            transport.write(OK_ANSWER)
            with server.lock:
                server.answered += 1
            if fault is Fault.CLOSE_AFTER:
                self.done = True
                # closed later, bytes that came meanwhile are unread: the kernel resets, as real servers do
                asyncio.get_running_loop().call_later(server.close_delay_s, transport.close)
        elif fault is Fault.BAD_GATEWAY:
            transport.write(BAD_GATEWAY)
        elif fault is Fault.HANG_UP:
            self.done = True
            transport.close()
        elif fault is Fault.RESET:
            self.done = True
            transport.abort()
        elif fault is Fault.GARBAGE:
            self.done = True
            transport.write(b"\x00\x01garbage, not HTTP at all\r\n\r\n")
            transport.close()
        elif fault is Fault.PARTIAL:
            self.done = True
            transport.write(OK_ANSWER[:20])
            transport.close()


@contextlib.contextmanager
def faulty_server(
    fault: Callable[[Request], Fault] = lambda request: Fault.NONE, close_delay_s: float = 0.0
) -> Iterator[FaultyHttpServer]:
    server = FaultyHttpServer(fault=fault, close_delay_s=close_delay_s).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A listening socket that never accepts: the first connection fills its queue (the client's
    probe gets through), every later connect hangs in SYN_SENT. Yields its http:// URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/events"
    finally:
        sock.close()

