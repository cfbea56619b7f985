"""Misbehaving HTTP servers on 127.0.0.1, for what the HTTP clients must survive.

`FaultyHttpServer` is a raw asyncio server in a thread of its own: it parses each request
(head and Content-Length body), counts it, and then does what its `fault` says for that
request (answer and keep the connection, answer and then hang up without `Connection: close`,
hang up without answering, reset, answer garbage). `silent_listener` is a socket whose
listen queue is full and is never accepted from, so a connect to it hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

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
    """Runs until `stop()`; `fault(request)` picks what happens to each request (default: answer).

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

        self._thread = threading.Thread(target=serve, daemon=True)
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
