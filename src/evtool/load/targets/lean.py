"""A lean HTTP/1.1 keep-alive client for plain `http://` targets (the default there; `--client`).

Why: aiohttp spends about 60-80 µs a request in Python (request objects, header multidicts,
payload wrappers); at 15,000+ events/s in one process that is the whole budget. This client
writes a pre-built request head plus the body in one write on a pooled connection and parses
only what the log needs (status, length or chunked framing, Retry-After, Connection: close).
One request per connection at a time (no pipelining); a connection per request in flight, so
`--max-in-flight` bounds the pool and nothing queues inside the client. TLS targets use aiohttp.

`--timeout` bounds each attempt from the first byte of connecting to the last byte of the
answer. A server may close a kept-alive connection at any moment (RFC 9112 §9.3.1, often right
after an answer without saying `Connection: close`); the rule for that race is on `_attempt`.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Sequence
from typing import cast
from urllib.parse import unquote, urlsplit

from evtool.errors import TargetError, UsageError
from evtool.load.targets.base import OutEvent, SendResult, TargetOptions
from evtool.load.targets.http_common import (
    PROBE_TIMEOUT_S,
    BrokenResponse,
    UnansweredOnReuse,
    request_parts,
    with_retries,
)

_NO_BODY = frozenset({204, 304})
WRITE_APART_BYTES = 16_384  # a larger body is handed to the transport beside its head, not copied after it


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `waiter` resolves with (status, Retry-After, keep).

    `pooled` is set once it has waited in the pool (after the open probe or an exchange),
    `answered` once any byte of the current answer arrived: together they tell a pooled
    connection the server had already dropped from a request that failed.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, str | None, bool]] | None = None
        self.closed = False
        self.pooled = False
        self.answered = False
        self._until_close: tuple[int, str | None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.answered = True
        if self.waiter is not None and not self.waiter.done():
            try:
                self._parse()
            except (ValueError, IndexError):
                self.waiter.set_exception(BrokenResponse("malformed HTTP response"))
                self.abort()

    def eof_received(self) -> None:
        self.closed = True  # no more requests on it from now; the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if self._until_close is not None:
                code, retry_after = self._until_close
                waiter.set_result((code, retry_after, False))
            elif self.pooled and not self.answered:
                waiter.set_exception(UnansweredOnReuse("kept-alive connection closed before any answer"))
            else:
                waiter.set_exception(BrokenResponse("connection closed before a complete response"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _parse(self) -> None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).split(b"\r\n")
        status_line = head[0].split(b" ", 2)
        code = int(status_line[1])
        length: int | None = None
        chunked = False
        close = status_line[0] == b"HTTP/1.0"  # 1.0 closes unless it says keep-alive
        retry_after: str | None = None
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower() or (close and b"keep-alive" not in value.lower())
            elif name == b"retry-after":
                retry_after = value.strip().decode("latin-1")
        start = end + 4
        if code < 200:  # 1xx interim answer: drop it, the real one follows
            del buffer[:start]
            self._parse()
            return
        if code in _NO_BODY:
            consumed = start
        elif chunked:
            position = start
            while True:
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    return
                size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
                if size == 0:
                    if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                        consumed = line_end + 4
                        break
                    trailers_end = buffer.find(b"\r\n\r\n", line_end + 2)
                    if trailers_end < 0:
                        return
                    consumed = trailers_end + 4
                    break
                position = line_end + 2 + size + 2
                if position > len(buffer):
                    return
        elif length is not None:
            if len(buffer) < start + length:
                return
            consumed = start + length
        else:  # no framing: the body runs to the end of the connection
            self._until_close = (code, retry_after)
            return
        del buffer[:consumed]
        assert self.waiter is not None
        self.waiter.set_result((code, retry_after, not close))


class LeanHttpTarget:
    def __init__(self, options: TargetOptions) -> None:
        parts = urlsplit(options.target)
        if parts.scheme != "http":
            raise UsageError(
                "--client lean speaks plain http:// only", hint="use the default client for https"
            )
        self._options = options
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = self._host if parts.port is None else f"{self._host}:{self._port}"
        fixed = {"Host": host_header, "User-Agent": options.user_agent}
        if parts.username is not None:  # user info in the URL is Basic auth, as aiohttp sends it
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            fixed["Authorization"] = "Basic " + base64.b64encode(userinfo.encode("latin-1")).decode()
        fixed.update({h.name: h.resolve() for h in options.headers})
        self._head = f"POST {path} HTTP/1.1\r\n".encode() + b"".join(
            f"{name}: {value}\r\n".encode("latin-1") for name, value in fixed.items()
        )
        self._idle: list[_Connection] = []
        self._rng = random.Random()

    @property
    def description(self) -> str:
        return self._options.description

    async def open(self) -> None:
        try:
            connection = await asyncio.wait_for(self._connect(), PROBE_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise TargetError(
                f"target {self.description}: cannot connect to {self._host}:{self._port} ({why})",
                hint="start the service first, or check --target",
            ) from None
        connection.pooled = True
        self._idle.append(connection)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self._host, self._port)
        return connection

    async def send(self, events: Sequence[OutEvent]) -> SendResult:
        headers, body = request_parts(self._options.mode, events)
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = self._head + f"{extra}Content-Length: {len(body)}\r\n\r\n".encode("latin-1")
        request = (head, body) if len(body) > WRITE_APART_BYTES else (head + body,)
        return await with_retries(
            lambda fresh: self._attempt(request, fresh), self._options.retries, self._rng
        )

    async def _attempt(self, request: tuple[bytes | memoryview, ...], fresh: bool) -> tuple[int, str | None]:
        """One request on a pooled connection (a new one when `fresh` or none is idle).

        A pooled connection already seen closed, or holding bytes nobody asked for, is dropped
        unused. One that closes or resets after the request was written and before any byte
        of the answer came raises `UnansweredOnReuse`: `with_retries` then sends the request
        once more on a fresh connection (see there for why that is safe enough to do).
        """
        connection: _Connection | None = None
        idle = self._idle
        while idle and not fresh:
            candidate = idle.pop()
            if not candidate.closed and not candidate.buffer:
                connection = candidate
                break
            candidate.abort()
        loop = asyncio.get_running_loop()
        timeout_s = self._options.timeout_s
        if connection is None:
            started = loop.time()
            connection = await asyncio.wait_for(self._connect(), timeout_s)
            timeout_s -= loop.time() - started
        waiter: asyncio.Future[tuple[int, str | None, bool]] = loop.create_future()
        connection.waiter = waiter
        connection.answered = False
        assert connection.transport is not None
        connection.transport.writelines(request)
        timer = loop.call_later(timeout_s, _expire, waiter)
        try:
            code, retry_after, keep = await waiter
        except BaseException:
            connection.abort()
            raise
        finally:
            timer.cancel()
            connection.waiter = None
        if keep and not connection.closed:
            connection.pooled = True
            idle.append(connection)
        else:
            connection.abort()
        return code, retry_after

    async def close(self) -> None:
        for connection in self._idle:
            connection.abort()
        self._idle.clear()


def _expire(waiter: asyncio.Future[tuple[int, str | None, bool]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no complete answer within --timeout"))
