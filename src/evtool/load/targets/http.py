"""HTTP target on aiohttp: pooled keep-alive connections, CloudEvents content modes, retries.

aiohttp rather than httpx on this path: httpx's pool collapses under many concurrent
connections (encode/httpcore#1035), aiohttp sustains an order of magnitude more.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

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
    attempt: Callable[[], Awaitable[tuple[int, str | None]]], retries: int, rng: random.Random
) -> SendResult:
    """Run `attempt` (returns status code and Retry-After) until a 2xx, a final failure, or no retries left.

    Retried: 429, 502, 503, 504 and connection errors, timeouts, broken answers; 429/503 wait
    what Retry-After says, the rest back off exponentially with jitter.
    """
    attempts = 0
    while True:
        attempts += 1
        delay: float | None = None
        try:
            code, retry_after = await attempt()
            if 200 <= code < 300:
                return SendResult(Status.OK, Reason.NONE, code, attempts)
            result = SendResult(Status.FAILED, Reason.HTTP_STATUS, code, attempts)
            if code not in RETRY_STATUSES:
                return result
            if code in (429, 503):
                delay = retry_after_s(retry_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = SendResult(Status.FAILED, classify(exc), 0, attempts)
            if result.reason not in RETRY_REASONS:
                return result
        if attempts > retries:
            return result
        if delay is None:
            backoff = min(BACKOFF_BASE_S * 2 ** (attempts - 1), BACKOFF_MAX_S)
            delay = backoff / 2 + rng.uniform(0, backoff / 2)
        await asyncio.sleep(delay)


class HttpTarget:
    def __init__(self, options: TargetOptions) -> None:
        self._options = options
        self._url = options.target
        self._headers = {h.name: h.resolve() for h in options.headers}
        self._headers.setdefault("User-Agent", options.user_agent)
        self._session: aiohttp.ClientSession | None = None
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
        connector = aiohttp.TCPConnector(
            limit=self._options.max_in_flight,
            limit_per_host=0,
            ssl=not self._options.insecure,
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._options.timeout_s),
            headers=self._headers,
            skip_auto_headers=("Accept-Encoding",),
        )

    async def send(self, events: Sequence[OutEvent]) -> SendResult:
        assert self._session is not None, "open() first"
        session = self._session
        headers, body = request_parts(self._options.mode, events)

        async def attempt() -> tuple[int, str | None]:
            async with session.post(self._url, data=body, headers=headers) as response:
                await response.read()
                return response.status, response.headers.get("Retry-After")

        return await with_retries(attempt, self._options.retries, self._rng)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
