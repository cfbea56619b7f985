"""HTTP target on aiohttp: pooled keep-alive connections, CloudEvents content modes, retries.

aiohttp rather than httpx on this path: httpx's pool collapses under many concurrent
connections (encode/httpcore#1035), aiohttp sustains an order of magnitude more.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import weakref
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from evtool.errors import TargetError
from evtool.events.envelope import CONTENT_TYPE_BATCH, CONTENT_TYPE_STRUCTURED
from evtool.load.targets.base import OutEvent, SendResult, TargetOptions, batch_body, structured_body
from evtool.results.runlog import Reason, Status

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_REASONS = frozenset({Reason.CONNECT, Reason.TIMEOUT, Reason.PROTOCOL})
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 5.0
RETRY_AFTER_MAX_S = 60.0
PROBE_TIMEOUT_S = 3.0


class BrokenResponse(Exception):
    """An answer that is not HTTP, or a connection lost before the answer was complete."""


class UnansweredOnReuse(BrokenResponse):
    """A pooled connection closed or reset after the request was written, before any answer came.

    Nearly always the keep-alive race: the server had dropped the idle connection and never
    read the request. `with_retries` sends it once more on a fresh connection.
    """


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_MAX_S)
    except ValueError:
        pass
    try:
        import datetime as dt

        when = parsedate_to_datetime(value)
        delay = (when - dt.datetime.now(dt.UTC)).total_seconds()
        return min(max(delay, 0.0), RETRY_AFTER_MAX_S)
    except (TypeError, ValueError, IndexError):
        return None


def classify(exc: BaseException) -> Reason:
    """The error kind the log keeps for a failed request."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Reason.TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return Reason.TLS
    if isinstance(exc, BrokenResponse | aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return Reason.PROTOCOL
    if isinstance(exc, aiohttp.ClientResponseError):
        return Reason.PROTOCOL
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientOSError | ConnectionError | OSError):
        return Reason.CONNECT
    return Reason.OTHER


def request_parts(mode: str, events: Sequence[OutEvent]) -> tuple[dict[str, str], bytes | memoryview]:
    """Headers and body of one request in a CloudEvents HTTP content mode."""
    if mode == "batch":
        return {"Content-Type": CONTENT_TYPE_BATCH}, batch_body(events)
    if mode == "structured":
        return {"Content-Type": CONTENT_TYPE_STRUCTURED}, structured_body(events)
    return events[0].event.to_binary()


async def with_retries(
    attempt: Callable[[bool], Awaitable[tuple[int, str | None]]], retries: int, rng: random.Random
) -> SendResult:
    """Run `attempt(fresh)` (status code and Retry-After) until a 2xx, a final failure, or no retries left.

    Retried: 429, 502, 503, 504 and connection errors, timeouts, broken answers; 429/503 wait
    what Retry-After says, the rest back off exponentially with jitter.

    Replayed at once, once a request, outside `--retries`: an attempt that failed with
    `UnansweredOnReuse` (its pooled connection went before any byte of an answer), on a fresh
    connection (`fresh=True`). That is what browsers do for the keep-alive race; it can send a
    request twice only if the server read it and then hung up without a byte of answer, and
    then the receiver can tell (the same CloudEvents id) and the record does too (`attempts`
    counts every request written, the replay included). A fresh connection is never replayed.

    Cancelled (the run's grace ran out) while in flight or waiting to retry: returns
    FAILED/CANCELLED with the attempts made so far, so the record keeps the real count.
    """
    attempts = 0
    replays = 0
    fresh = False
    while True:
        attempts += 1
        delay: float | None = None
        try:
            code, retry_after = await attempt(fresh)
            if 200 <= code < 300:
                return SendResult(Status.OK, Reason.NONE, code, attempts)
            result = SendResult(Status.FAILED, Reason.HTTP_STATUS, code, attempts)
            if code not in RETRY_STATUSES:
                return result
            if code in (429, 503):
                delay = retry_after_s(retry_after)
        except asyncio.CancelledError:
            return SendResult(Status.FAILED, Reason.CANCELLED, 0, attempts)
        except UnansweredOnReuse:
            if not replays:
                replays = 1
                fresh = True
                continue
            result = SendResult(Status.FAILED, Reason.PROTOCOL, 0, attempts)
        except Exception as exc:
            result = SendResult(Status.FAILED, classify(exc), 0, attempts)
            if result.reason not in RETRY_REASONS:
                return result
        fresh = False
        if attempts - replays > retries:
            return result
        if delay is None:
            backoff = min(BACKOFF_BASE_S * 2 ** (attempts - replays - 1), BACKOFF_MAX_S)
            delay = backoff / 2 + rng.uniform(0, backoff / 2)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return SendResult(Status.FAILED, Reason.CANCELLED, 0, attempts)


class HttpTarget:
    """aiohttp does not replay a POST whose pooled connection went before the answer (it retries
    idempotent methods only), so `attempt` does: its connector tells it whether the connection
    had served a request before; a disconnect or reset before the answer's head is then
    `UnansweredOnReuse`, and the replay goes through a session that opens a new connection.
    (aiohttp does not show whether part of a head had come; a server writes it in one piece.)
    """

    def __init__(self, options: TargetOptions) -> None:
        self._options = options
        self._url = options.target
        self._headers = {h.name: h.resolve() for h in options.headers}
        self._headers.setdefault("User-Agent", options.user_agent)
        self._session: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None
        self._rng = random.Random()

    @property
    def description(self) -> str:
        return self._options.description

    async def open(self) -> None:
        parts = urlsplit(self._url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), PROBE_TIMEOUT_S)
        except (TimeoutError, OSError) as exc:
            why = "timed out" if isinstance(exc, asyncio.TimeoutError) else (exc.strerror or str(exc))
            raise TargetError(
                f"target {self.description}: cannot connect to {host}:{port} ({why})",
                hint="start the service first, or check --target",
            ) from None
        writer.close()
        self._session = self._new_session(
            _ReuseTellingConnector(
                limit=self._options.max_in_flight,
                limit_per_host=0,
                ssl=not self._options.insecure,
                keepalive_timeout=30,
            )
        )
        self._fresh = self._new_session(
            aiohttp.TCPConnector(limit=0, ssl=not self._options.insecure, force_close=True)
        )

    def _new_session(self, connector: aiohttp.TCPConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._options.timeout_s),
            headers=self._headers,
            skip_auto_headers=("Accept-Encoding",),
        )

    async def send(self, events: Sequence[OutEvent]) -> SendResult:
        assert self._session is not None, "open() first"
        assert self._fresh is not None
        pooled, fresh_session = self._session, self._fresh
        headers, body = request_parts(self._options.mode, events)

        async def attempt(fresh: bool) -> tuple[int, str | None]:
            _REUSED.set(False)
            session = fresh_session if fresh else pooled
            try:
                response = await session.post(self._url, data=body, headers=headers)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if _REUSED.get() and not isinstance(exc, aiohttp.ClientConnectorError):
                    raise UnansweredOnReuse(str(exc)) from exc
                raise
            async with response:
                await response.read()
                return response.status, response.headers.get("Retry-After")

        return await with_retries(attempt, self._options.retries, self._rng)

    async def close(self) -> None:
        for session in (self._session, self._fresh):
            if session is not None:
                await session.close()
        self._session = self._fresh = None


# whether the connection the current request got had served one before (each send is a task of
# its own, and aiohttp awaits `connect` in the request's task, so a context variable carries it)
_REUSED: ContextVar[bool] = ContextVar("evtool_connection_reused", default=False)


class _ReuseTellingConnector(aiohttp.TCPConnector):
    """A TCPConnector that marks, in `_REUSED`, a connection taken from its pool.

    Cheaper than aiohttp's tracing (which costs about a fifth of the request rate)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._served: weakref.WeakSet[object] = weakref.WeakSet()

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        if protocol is not None:
            _REUSED.set(protocol in self._served)
            self._served.add(protocol)
        return connection


# -- registration: registry.BUILTIN imports this module for http:// and https:// --------------
from evtool.load.targets.base import Target  # noqa: E402
from evtool.load.targets.registry import TransportSpec, register  # noqa: E402


def _make(options: TargetOptions) -> Target:
    """Lean for plain http:// (several times faster), aiohttp for https:// or when asked for."""
    if options.client == "lean" or (options.client == "auto" and options.target.startswith("http://")):
        from evtool.load.targets.lean import LeanHttpTarget

        return LeanHttpTarget(options)
    return HttpTarget(options)


register(TransportSpec(("http", "https"), _make, "http(s)://HOST[:PORT]/PATH"))
