"""HTTP target on aiohttp: pooled keep-alive connections, CloudEvents content modes, retries.

aiohttp rather than httpx on this path: httpx's pool collapses under many concurrent
connections (encode/httpcore#1035), aiohttp sustains an order of magnitude more.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import weakref
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from evtool.errors import TargetError
from evtool.load.targets.base import OutEvent, SendResult, TargetOptions
from evtool.load.targets.http_common import (
    PROBE_TIMEOUT_S,
    BrokenResponse,
    UnansweredOnReuse,
    classify_error,
    request_parts,
    with_retries,
)
from evtool.results.runlog import Reason


def classify(exc: BaseException) -> Reason:
    """The error kind the log keeps for a failed request, aiohttp's errors included."""
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
    return classify_error(exc)


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

        return await with_retries(attempt, self._options.retries, self._rng, classify)

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
