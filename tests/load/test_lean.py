"""The lean HTTP/1.1 client against a raw TCP server on 127.0.0.1 that answers with canned bytes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from evtool.events.envelope import CloudEvent
from evtool.load.targets.base import OutEvent, TargetOptions
from evtool.load.targets.lean import LeanHttpTarget
from evtool.results.runlog import Reason, Status, correlation_key


class CannedServer:
    """Answers the n-th request with answers[n], written in `pieces` parts; closes when told to."""

    def __init__(self, answers: list[tuple[bytes, bool]], pieces: int = 3) -> None:
        self.answers = answers
        self.pieces = pieces
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                answer, close = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
                step = max(1, len(answer) // self.pieces)
                for i in range(0, len(answer), step):
                    conn.sendall(answer[i : i + step])
                if close:
                    return

    def stop(self) -> None:
        self.sock.close()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[CannedServer] = []

    def make(answers: list[tuple[bytes, bool]], pieces: int = 3) -> CannedServer:
        server = CannedServer(answers, pieces)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _event(n: int = 0) -> OutEvent:
    event = CloudEvent(id=f"id-{n}", source="/t", type="t.x", data={"n": n})
    return OutEvent(event=event, key=correlation_key(event.id), schema_version=1)


async def _send_all(port: int, count: int, **options: Any) -> list[Any]:
    target = LeanHttpTarget(TargetOptions(f"http://127.0.0.1:{port}/in?x=1", **options))
    await target.open()
    try:
        return [await target.send([_event(i)]) for i in range(count)]
    finally:
        await target.close()


OK_LENGTH = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
CHUNKED_TRAILER = b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n"


@pytest.mark.parametrize("pieces", [1, 7])
def test_framings_on_one_keep_alive_connection(server_factory: Any, pieces: int) -> None:
    answers = [
        (OK_LENGTH, False),
        (CHUNKED, False),
        (b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (CHUNKED_TRAILER, False),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + OK_LENGTH, False),
    ]
    server = server_factory(answers, pieces)
    results = asyncio.run(_send_all(server.port, 5))
    assert [r.http_status for r in results] == [202, 200, 204, 201, 202]
    assert all(r.status is Status.OK for r in results)
    first = server.requests[0]
    assert first.startswith(b"POST /in?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}".encode() in first
    assert b"ce-id: id-0" in first
    assert first.endswith(b'{"n":0}')


def test_connection_close_and_unframed_bodies_reconnect(server_factory: Any) -> None:
    answers = [
        (b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\n\r\nbody until the end", True),
        (b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n", True),
        (OK_LENGTH, False),
    ]
    server = server_factory(answers)
    results = asyncio.run(_send_all(server.port, 4))
    assert [r.http_status for r in results] == [202, 200, 201, 202]


def test_server_errors_and_retry_after(server_factory: Any) -> None:
    answers = [
        (b"HTTP/1.1 503 Busy\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n", False),
        (OK_LENGTH, False),
    ]
    server = server_factory(answers)
    (result,) = asyncio.run(_send_all(server.port, 1, retries=1))
    assert (result.status, result.http_status, result.attempts) == (Status.OK, 202, 2)
    server = server_factory([(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", False)])
    (result,) = asyncio.run(_send_all(server.port, 1, retries=3))
    assert (result.status, result.reason, result.http_status, result.attempts) == (
        Status.FAILED,
        Reason.HTTP_STATUS,
        500,
        1,
    )


def test_garbage_and_cut_answers_are_protocol_failures(server_factory: Any) -> None:
    server = server_factory([(b"SSH-2.0-OpenSSH\r\n\r\n", True)])
    (result,) = asyncio.run(_send_all(server.port, 1))
    assert (result.status, result.reason) == (Status.FAILED, Reason.PROTOCOL)
    server = server_factory([(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", True)])
    (result,) = asyncio.run(_send_all(server.port, 1))
    assert (result.status, result.reason) == (Status.FAILED, Reason.PROTOCOL)
