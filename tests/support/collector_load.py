"""Misbehaving result posters and a real `evtool collect` process to aim them at (127.0.0.1 only).

- `collector_process`: `evtool collect` in a subprocess (optionally under a low RLIMIT_NOFILE),
  its port, and its peak RSS (`peak_rss_mib`, VmHWM) for a stated memory bound;
- `idle_connections`: sockets that connect and never send;
- `disconnect_mid_body`: posts that send half their declared body and vanish;
- `slow_body`: headers and a part of a body, then silence;
- `post_results` / `post_big`: real posts, timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from tests.support.cli import installed_evtool
from tests.support.http_servers import free_port


@dataclass
class CollectorProcess:
    process: subprocess.Popen[bytes]
    port: int
    run_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/results"

    def status(self, field: str) -> int:
        """A kB figure from /proc/<pid>/status (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def peak_rss_mib(self) -> float:
        return self.status("VmHWM") / 1024

    def rss_mib(self) -> float:
        return self.status("VmRSS") / 1024

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self, timeout: float = 20) -> tuple[int, str, str]:
        """SIGINT (Ctrl-C), then its exit code, stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return self.process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@contextlib.contextmanager
def collector_process(run_dir: Path, *, nofile: int | None = None, argv: list[str] | None = None,
                      ready_timeout: float = 20,
                      env: Mapping[str, str] | None = None) -> Iterator[CollectorProcess]:
    """`evtool collect` (or `argv`, which must listen on the port given as {port}) until the block ends;
    `env` adds to its environment (e.g. the collector's clock test hooks)."""
    port = free_port()
    command = [a.replace("{port}", str(port)) for a in argv] if argv else [
        installed_evtool(), "collect", "--listen", f"127.0.0.1:{port}", "--run-dir", str(run_dir)]
    if nofile is not None:  # util-linux prlimit: the limit holds from the first instruction
        command = ["prlimit", f"--nofile={nofile}:{nofile}", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, **env} if env else None)
    running = CollectorProcess(process, port, run_dir)
    deadline = time.monotonic() + ready_timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"collector exited {process.returncode}: {running.stop()[2]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("collector did not start listening")
            time.sleep(0.05)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """`count` connections that never send a byte (the caller closes them)."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        sockets.append(s)
    return sockets


def _headers(port: int, length: int) -> bytes:
    return (f"POST /results HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def disconnect_mid_body(port: int, count: int, *, body_bytes: int = 100_000, parallel: int = 20) -> int:
    """Posts that declare `body_bytes`, send half and close the connection: returns how many were made."""
    made = 0
    gate = asyncio.Semaphore(parallel)

    async def one() -> None:
        nonlocal made
        async with gate:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return
            writer.write(_headers(port, body_bytes) + b'{"correlationid": "' + b"x" * (body_bytes // 2))
            with contextlib.suppress(OSError):
                await writer.drain()
            await asyncio.sleep(0.01)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            made += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return made


async def slow_body(port: int, declared: int, sent: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Headers declaring `declared` bytes, `sent` of them, then nothing (the caller closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_headers(port, declared) + b" " * sent)
    await writer.drain()
    return reader, writer


async def post_results(url: str, values: list[str], *, timeout_s: float = 5) -> list[tuple[int, float]]:
    """One real post per value (fresh connections): (status, seconds) each; status 0 on a failure."""
    out: list[tuple[int, float]] = []
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as s:
        for value in values:
            started = time.monotonic()
            try:
                async with s.post(url, json={"correlationid": value}) as response:
                    await response.read()
                    out.append((response.status, time.monotonic() - started))
            except (aiohttp.ClientError, TimeoutError):
                out.append((0, time.monotonic() - started))
    return out


def big_body(size: int, value: str) -> bytes:
    """A result of about `size` bytes: one event with a large data member."""
    head = b'{"correlationid": "' + value.encode() + b'", "data": {"blob": "'
    tail = b'"}}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


async def post_big(url: str, count: int, size: int, *, timeout_s: float = 60) -> list[int]:
    """`count` posts of `size` bytes at once, each on its own connection: their statuses (0: failed)."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def one(session: aiohttp.ClientSession, i: int) -> int:
        try:
            async with session.post(url, data=big_body(size, f"big-{i}"),
                                    headers={"content-type": "application/json"}) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        return list(await asyncio.gather(*(one(session, i) for i in range(count))))
