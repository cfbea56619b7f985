"""The HTTP collector: a receiver for the downstream results of the system under test.

The system under test POSTs its result events (to any path; CloudEvents binary, structured or
batched, or plain JSON). The collector stamps the arrival time first, appends (correlation
key, arrival time) to the run's results log, then answers 202. It does not know what was
sent: the report joins results to events later, so the collector stays cheap and can run on
another machine. A result without a correlation value is counted, never silently dropped.
``GET /evtool/clock`` answers the collector's run clock, so a sender on another host can
measure the offset between their clocks (`load.clocksync`, `results.clock_offset`).

It sheds load instead of falling over (`Limits`): a body over the size cap gets 413; when the
bodies being read would exceed the bytes-in-flight budget, 503 with Retry-After; connections
are capped (below the process's file-descriptor limit), and at the cap the longest-idle
connection is closed to make room; idle connections and slow bodies time out. Every kind
of problem (a poster gone mid-body, a timeout, accept() out of descriptors) is counted in
``SourceCounts.problems``, never printed once per occurrence.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import logging
import os
import resource
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from evtool.errors import UsageError
from evtool.load.sources.base import (
    CollectorSpec,
    ResultLedger,
    SourceCounts,
    WaitOutcome,
    check_run_dir,
)
from evtool.results.clock import RunClock
from evtool.results.clock_offset import CLOCK_PATH
from evtool.results.runlog import correlation_key

DEFAULT_CORRELATE_BY = "correlationid,causationid"
_CE_PREFIX = "ce-"
CollectorCounts = SourceCounts  # the name older callers use
_LARGE_BODY = 1 << 20
_SLICE = 2000  # results recorded between yields to the event loop, for a large body
_ACCEPT_RETRY_S = 1.5  # asyncio waits 1 s before it retries an accept() that ran out of descriptors


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the collector takes on at once; past these it answers 413/503 or closes connections."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_bytes_in_flight: int = 64 * 1024 * 1024  # all bodies being read at once
    max_connections: int = 4096  # further capped at half the free file descriptors
    idle_timeout_s: float = 30.0  # a connection without a request in progress (also: slow headers)
    read_timeout_s: float = 10.0  # a request's whole body
    retry_after_s: int = 1

    def connection_cap(self) -> tuple[int, int]:
        """(connections, accept backlog) that fit the descriptors this process can still open.

        At most half the free descriptors are connections. asyncio accepts up to `backlog`
        connections in one go before a connection over the cap can be closed, so the backlog
        is an eighth: a burst never runs accept() out of descriptors.
        """
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections, 1024
        try:
            used = len(os.listdir("/proc/self/fd"))
        except OSError:
            used = 32
        free = max(2, soft - used)
        return max(1, min(self.max_connections, free // 2)), max(4, min(1024, free // 8))


@dataclass(frozen=True, slots=True)
class CorrelateBy:
    """Where a result's correlation value is, tried in order.

    A bare name (``correlationid``) is a CloudEvents attribute or extension (a ``ce-`` header
    in binary mode, a top-level member otherwise); a dotted path (``data.order_id``) is a
    field path into the event, where ``data`` is the event's data (the body in binary mode,
    and for plain JSON the body itself when it has no ``data`` member).
    """

    sources: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, spec: str | None = None) -> CorrelateBy:
        text = DEFAULT_CORRELATE_BY if spec is None else spec
        sources = []
        for raw in text.split(","):
            item = raw.strip()
            parts = tuple(item.split("."))
            if not item or any(not p for p in parts):
                raise UsageError(
                    f"bad --correlate-by {spec!r}: empty name in {item!r}",
                    hint="comma-separated CloudEvents attributes or field paths, "
                    "e.g. correlationid,causationid,data.order_id",
                )
            sources.append(parts)
        return cls(tuple(sources))

    def __str__(self) -> str:
        return ",".join(".".join(s) for s in self.sources)

    def find(self, event: dict[str, Any], *, plain: bool) -> str | None:
        for path in self.sources:
            value = _resolve(event, path)
            if value is None and plain and path[0] == "data" and len(path) > 1 and "data" not in event:
                value = _resolve(event, path[1:])
            if value is not None and value != "":
                return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return None


def _resolve(node: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


class _CountingLog(logging.Handler):
    """aiohttp's server log, counted by message instead of printed with a traceback each time."""

    def __init__(self, counts: SourceCounts) -> None:
        super().__init__(logging.DEBUG)
        self._counts = counts

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self._counts.problem(f"http server: {record.getMessage().splitlines()[0][:80]}")


class _Connections(web.Server):
    """aiohttp's low-level server with a connection cap: at the cap the longest-idle one makes room."""

    def __init__(self, collector: Collector, cap: int, **kwargs: Any) -> None:
        super().__init__(collector._handle, **kwargs)
        self._collector = collector
        self.cap = cap
        self.idle: OrderedDict[RequestHandler, None] = OrderedDict()  # longest idle first
        self.open = 0

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.open += 1
        self.idle[handler] = None
        if self.open > self.cap:
            counts = self._collector.counts
            if self._close_idle(1):
                counts.problem("connection limit: closed the longest-idle connection")
            else:
                counts.problem("connection limit: refused a connection (none idle)")
                self.idle.pop(handler, None)
                # on the next turn: its handler task must start before the connection can be closed
                asyncio.get_running_loop().call_later(0, handler.force_close)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.idle.pop(handler, None)
        self.open -= 1
        super().connection_lost(handler, exc)

    def _close_idle(self, count: int) -> int:
        """Close up to `count` of the longest-idle connections that wait for a request."""
        victims = []
        for handler in self.idle:
            waiter = getattr(handler, "_waiter", None)  # set while aiohttp waits for the next request
            if waiter is not None and not waiter.done():
                victims.append(handler)
                if len(victims) == count:
                    break
        for handler in victims:
            del self.idle[handler]
            handler.force_close()
        return len(victims)

    def shed(self, share: float) -> None:
        """Close the longest-idle share of connections (accept() ran out of descriptors)."""
        self._close_idle(max(1, int(len(self.idle) * share)))

    def busy(self, handler: RequestHandler) -> None:
        self.idle.pop(handler, None)

    def done(self, handler: RequestHandler) -> None:
        if handler.transport is not None:
            self.idle[handler] = None
            self.idle.move_to_end(handler)


class Collector:
    """`async with Collector(...) as c:` serves until the block ends; `c.address` is host:port.

    A `ResultSource`: after the dispatch, `expect(run_dir)` and `wait_for_results` wait for
    the distinct results of the run's acknowledged events.
    """

    def __init__(
        self,
        host: str,
        port: int,
        run_dir: Path,
        correlate_by: CorrelateBy | None = None,
        clock: RunClock | None = None,
        *,
        shard: int = 0,
        limits: Limits | None = None,
        clock_reply_delay_s: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.run_dir = Path(run_dir)
        self.correlate_by = correlate_by or CorrelateBy.parse()
        self.clock = clock or RunClock()
        self.shard = shard
        self.limits = limits or Limits()
        self.clock_reply_delay_s = clock_reply_delay_s  # a test hook (TEST_HOOK_REPLY_DELAY_ENV)
        self._counts = SourceCounts()
        self._ledger: ResultLedger | None = None
        self._runner: web.ServerRunner | None = None
        self._server: _Connections | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._in_flight = 0  # body bytes being read or parsed (reserved) across requests
        self._large = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handler: Any = None
        self._listening: set[int] = set()
        self._accept_failures = 0
        self._write_error: str | None = None
        self.bound: tuple[str, int] | None = None

    @property
    def counts(self) -> SourceCounts:
        return self._counts

    @property
    def description(self) -> str:
        return f"http://{self.address}/"

    @property
    def address(self) -> str:
        if self.bound is None:
            raise RuntimeError("collector is not running")
        return f"{self.bound[0]}:{self.bound[1]}"

    @property
    def bytes_in_flight(self) -> int:
        return self._in_flight

    @property
    def connections(self) -> int:
        return self._server.open if self._server is not None else 0

    async def start(self) -> None:
        check_run_dir(self.run_dir)
        self._ledger = ResultLedger(self.run_dir, self.shard, self._counts)
        limits = self.limits
        log = logging.Logger(f"evtool.collector.{id(self)}")
        log.propagate = False
        log.addHandler(_CountingLog(self._counts))
        cap, backlog = limits.connection_cap()
        self._server = _Connections(
            self,
            cap,
            keepalive_timeout=limits.idle_timeout_s,
            logger=log,
            lingering_time=1.0,
        )
        self._runner = web.ServerRunner(self._server, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, backlog=backlog)
        try:
            await site.start()
        except OverflowError:
            await self._abandon()
            raise UsageError(f"collector port {self.port} is out of range",
                             hint="use 0-65535 (0: any)") from None
        except OSError as exc:
            await self._abandon()
            raise UsageError(
                f"collector cannot listen on {self.host}:{self.port}: {exc.strerror}",
                hint="pick a free port, or port 0 for any",
            ) from None
        bound = self._runner.addresses[0]
        self.bound = (str(bound[0]), int(bound[1]))
        server = getattr(site, "_server", None)
        self._listening = {s.fileno() for s in getattr(server, "sockets", None) or ()}
        self._loop = asyncio.get_running_loop()
        self._previous_handler = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._on_loop_error)
        self._flusher = asyncio.create_task(self._ledger.flush_periodically())

    async def _abandon(self) -> None:
        assert self._runner is not None
        assert self._ledger is not None
        await self._runner.cleanup()
        self._runner = None
        self._ledger.close()
        self._ledger = None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # answers the requests in progress first
            self._runner = None
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._loop is not None:
            loop, previous = self._loop, self._previous_handler
            if self._accept_failures:  # asyncio retries accept() 1 s after EMFILE, on a closed socket now
                loop.call_later(_ACCEPT_RETRY_S, loop.set_exception_handler, previous)
            else:
                self._loop.set_exception_handler(self._previous_handler)
            self._loop = None
        if self._ledger is not None:
            self._ledger.close()
            if self._ledger.write_error:
                self._counts.notes.append(self._ledger.write_error)
                self._write_error = self._ledger.write_error
            self._ledger = None
        self.write_counts()

    def problem_lines(self) -> list[str]:
        """One line per kind of refusal or problem, with its count (for the end of `evtool collect`)."""
        c = self._counts
        lines = [f"answered {reason}: {n} times" for reason, n in sorted(c.rejected.items())]
        lines += [f"{kind}: {n} times" for kind, n in sorted(c.problems.items())]
        return lines

    def write_counts(self) -> None:
        if self.bound is not None:  # what the source was, as the Kafka source says it too
            self._counts.settings = {"transport": "http", "listen": self.address}
        self._counts.write(self.run_dir, self.shard)

    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- the end-of-run wait (ResultSource) --------------------------------------------------

    @property
    def write_error(self) -> str | None:
        """The first write error of the results log (kept after `stop`)."""
        return self._ledger.write_error if self._ledger is not None else self._write_error

    async def wait_failed(self) -> None:
        """Returns at the first write error of the results log (never, while writes succeed)."""
        if self._ledger is None:
            return
        await self._ledger.failed.wait()

    async def expect(self, run_dir: Path) -> None:
        if self._ledger is None:
            raise RuntimeError("collector is not running")
        await self._ledger.expect(run_dir)

    async def wait_for_results(self, timeout_s: float, stop: asyncio.Event | None = None) -> WaitOutcome:
        if self._ledger is None:
            raise RuntimeError("collector is not running")
        return await self._ledger.wait_for_results(timeout_s, stop)

    # -- serving ---------------------------------------------------------------------------

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """accept() out of descriptors: count it and make room, instead of a traceback a second."""
        exc = context.get("exception")
        sock = context.get("socket")
        ours = sock is not None and getattr(sock, "fileno", lambda: -1)() in self._listening
        if ours and isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                                               errno.ENOMEM):
            self._counts.problem(f"accept failed: {exc.strerror}")
            self._accept_failures += 1
            if self._server is not None:
                self._server.shed(0.25)
            return
        handle = context.get("handle")
        if self._accept_failures and isinstance(exc, ValueError) and "_start_serving" in repr(handle):
            return  # one of those retries, after the collector stopped: nothing to serve any more
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        received_ns = self.clock.now_ns()  # before reading the body: arrival, not parse time
        if request.method == "GET" and request.path == CLOCK_PATH:
            return await self._clock_reply(received_ns)
        server = self._server
        protocol = request.protocol
        if server is not None and isinstance(protocol, RequestHandler):
            server.busy(protocol)
        try:
            return await self._receive(request, received_ns)
        finally:
            if server is not None and isinstance(protocol, RequestHandler):
                server.done(protocol)

    async def _clock_reply(self, now_ns: int) -> web.Response:
        """The time endpoint: this collector's run clock, for a remote sender's offset (`load.clocksync`).

        Stamped on arrival, like a result: any moment between the request and the reply lies
        within the sender's round trip, which is all its bound assumes.
        """
        if self.clock_reply_delay_s:  # test hook: a slow path, so a test can make the bound large
            await asyncio.sleep(self.clock_reply_delay_s)
        return web.Response(body=orjson.dumps({"now_ns": now_ns}), content_type="application/json")

    def _refuse(self, status: int, reason: str, *, retry: bool = False) -> web.Response:
        self._counts.reject(f"{status} {reason}")
        headers = {"Retry-After": str(self.limits.retry_after_s)} if retry else None
        response = web.Response(status=status, text=reason + "\n", headers=headers)
        response.force_close()  # do not read (and hold) the rest of a body we refused
        return response

    async def _receive(self, request: web.BaseRequest, received_ns: int) -> web.StreamResponse:
        self._counts.requests += 1
        if request.method not in ("POST", "PUT"):
            return self._refuse(405, "method not allowed: POST results")
        ledger = self._ledger
        if ledger is None or not ledger.writable:
            return self._refuse(503, "results log not writable", retry=True)
        limits = self.limits
        declared = request.content_length
        if declared is not None and declared > limits.max_body_bytes:
            return self._refuse(413, f"body over {limits.max_body_bytes} bytes")
        reserved = declared or 0
        if self._in_flight + reserved > limits.max_bytes_in_flight:
            return self._refuse(503, "busy: too many bytes in flight", retry=True)
        self._in_flight += reserved
        body = bytearray(reserved)  # the declared size at once: no regrowth, no second copy
        size = 0
        try:
            try:
                async with asyncio.timeout(limits.read_timeout_s):
                    while chunk := await request.content.readany():
                        end = size + len(chunk)
                        if end > reserved:  # chunked, or more than declared
                            if end > limits.max_body_bytes:
                                return self._refuse(413, f"body over {limits.max_body_bytes} bytes")
                            if self._in_flight + end - reserved > limits.max_bytes_in_flight:
                                return self._refuse(503, "busy: too many bytes in flight", retry=True)
                            self._in_flight += end - reserved
                            reserved = end
                        body[size:end] = chunk
                        size = end
            except TimeoutError:
                self._counts.problem("read timeout: body not received in time")
                return self._refuse(408, "body not received in time")
            except (ConnectionError, HttpProcessingError, asyncio.IncompleteReadError):
                self._counts.problem("poster disconnected mid-body")
                return self._refuse(400, "incomplete body")
            del body[size:]  # a body shorter than declared
            if size < _LARGE_BODY:
                self._record(self._values(request, body), ledger, received_ns)
            else:  # one large body at a time (its parsed objects are the largest transient), in slices
                async with self._large:
                    values = self._values(request, body)
                    while self._record(itertools.islice(values, _SLICE), ledger, received_ns) == _SLICE:
                        await asyncio.sleep(0)  # let small posts through meanwhile
        finally:
            self._in_flight -= reserved  # held until parsed: a body waiting its turn still counts
        return web.Response(status=202)

    def _record(self, values: Iterable[str | None], ledger: ResultLedger, received_ns: int) -> int:
        seen = 0
        for value in values:
            seen += 1
            if value is None:
                self._counts.uncorrelated += 1
                continue
            ledger.append(correlation_key(value), received_ns)
        return seen

    def _values(self, request: web.BaseRequest, body: bytes | bytearray) -> Iterator[str | None]:
        content_type = request.content_type.lower()
        headers = request.headers
        binary = "ce-id" in headers or "ce-specversion" in headers
        try:
            parsed: Any = orjson.loads(body) if body and not body.isspace() else None
        except orjson.JSONDecodeError:
            parsed = None
            if not binary:  # binary mode may carry non-JSON data; the value is in the headers
                self.counts.unreadable += 1
                return
        if binary:  # attributes (and extensions) are ce-* headers
            event = {
                k.lower()[len(_CE_PREFIX) :]: v
                for k, v in headers.items()
                if k.lower().startswith(_CE_PREFIX)
            }
            event["data"] = parsed
            yield self.correlate_by.find(event, plain=False)
            return
        if content_type == "application/cloudevents-batch+json" or isinstance(parsed, list):
            for item in parsed if isinstance(parsed, list) else []:
                if isinstance(item, dict):
                    yield self.correlate_by.find(item, plain="specversion" not in item)
                else:
                    self.counts.unreadable += 1
            return
        if isinstance(parsed, dict):
            yield self.correlate_by.find(parsed, plain="specversion" not in parsed)
            return
        self.counts.unreadable += 1


# Test hooks, for tests of the clock exchange on one machine (never set them in a real run): the
# collector's run clock shifted by this many ms (a host whose clock is off), and its time endpoint's
# reply delayed by this many ms (a slow path, so the offset's bound is large).
TEST_HOOK_SKEW_ENV = "EVTOOL_TEST_HOOK_COLLECTOR_SKEW_MS"
TEST_HOOK_REPLY_DELAY_ENV = "EVTOOL_TEST_HOOK_CLOCK_REPLY_DELAY_MS"


def test_hooks(environ: Mapping[str, str]) -> tuple[int, float, list[str]]:
    """(clock skew ns, time reply delay s, notes for the run's meta) from the test hooks' variables."""
    values = []
    for name in (TEST_HOOK_SKEW_ENV, TEST_HOOK_REPLY_DELAY_ENV):
        text = environ.get(name, "").strip()
        try:
            values.append(float(text) if text else 0.0)
        except ValueError:
            raise UsageError(f"{name}={text!r}: expected a number of milliseconds",
                             hint="a test hook; unset it for a real run") from None
    skew_ms, delay_ms = values
    notes = [f"test hook {name}: {value:g} ms" for name, value in
             ((TEST_HOOK_SKEW_ENV, skew_ms), (TEST_HOOK_REPLY_DELAY_ENV, delay_ms)) if value]
    return round(skew_ms * 1e6), max(0.0, delay_ms / 1e3), notes


def open_source(spec: CollectorSpec, run_dir: Path, clock: RunClock) -> Collector:
    """The `ResultSource` for `--collect host:port` / `http://host:port` (the source registry calls this)."""
    from evtool.load.sources import http_host_port

    host, port = http_host_port(spec.address)
    correlate = CorrelateBy.parse(spec.correlate_by) if spec.correlate_by else None
    return Collector(host, port, run_dir, correlate, clock)
