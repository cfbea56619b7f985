"""The collector sheds load cleanly: caps, timeouts, counted problems, a stated memory bound.

Real HTTP on 127.0.0.1: the collector in-process with small limits for each rule, and a real
`evtool collect` process for survival under load, its peak RSS and a low RLIMIT_NOFILE.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from tests.support.collector_load import (
    collector_process,
    disconnect_mid_body,
    idle_connections,
    post_big,
    post_results,
    slow_body,
)

from evtool.load.collector import Collector, Limits
from evtool.results.runlog import RESULT_DTYPE, correlation_key

MIB = 1024 * 1024


def _keys(run_dir: Path) -> list[bytes]:
    return [bytes(k) for k in np.fromfile(run_dir / "results-0.bin", dtype=RESULT_DTYPE)["key"]]


def test_body_over_the_cap_is_413_and_the_next_post_is_fine(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], Collector]:
        limits = Limits(max_body_bytes=1000)
        async with Collector("127.0.0.1", 0, tmp_path, limits=limits) as collector:
            url = f"http://{collector.address}/"
            async with aiohttp.ClientSession() as session:
                statuses = []
                too_big = b'{"correlationid": "a", "pad": "' + b"x" * 2000 + b'"}'
                for body in (too_big, b'{"correlationid": "b"}'):
                    async with session.post(url, data=body) as response:
                        statuses.append(response.status)
        return statuses, collector

    statuses, collector = asyncio.run(main())
    assert statuses == [413, 202]
    assert _keys(tmp_path) == [correlation_key("b")]
    assert collector.counts.rejected == {"413 body over 1000 bytes": 1}


def test_chunked_body_over_the_cap_is_413(tmp_path: Path) -> None:
    async def chunks() -> object:
        for _ in range(10):
            yield b"x" * 500

    async def main() -> int:
        small = Collector("127.0.0.1", 0, tmp_path, limits=Limits(max_body_bytes=1000))
        async with small as collector, aiohttp.ClientSession() as s:
            try:
                async with s.post(f"http://{collector.address}/", data=chunks()) as response:
                    return response.status
            except aiohttp.ClientError:  # the collector may close before the upload ends
                return -1

    assert asyncio.run(main()) in (413, -1)


def test_over_the_bytes_in_flight_budget_is_503_with_retry_after(tmp_path: Path) -> None:
    """A body being read holds its share of the budget; one more that does not fit is told to retry."""

    async def main() -> tuple[int, str | None, int, int]:
        limits = Limits(max_body_bytes=10_000, max_bytes_in_flight=15_000)
        async with Collector("127.0.0.1", 0, tmp_path, limits=limits) as collector:
            port = collector.bound[1] if collector.bound else 0
            _, holder = await slow_body(port, 10_000, 100)  # holds 10,000 of 15,000
            await asyncio.sleep(0.2)
            in_flight = collector.bytes_in_flight
            async with aiohttp.ClientSession() as session, session.post(
                    f"http://{collector.address}/", data=b'{"correlationid": "a"}' + b" " * 9000) as response:
                status, retry = response.status, response.headers.get("Retry-After")
            holder.close()
            await asyncio.sleep(0.2)
            return status, retry, in_flight, collector.bytes_in_flight

    status, retry, in_flight, after = asyncio.run(main())
    assert (status, retry) == (503, "1")
    assert in_flight == 10_000
    assert after == 0  # the disconnected poster gave its share back


def test_idle_connection_is_cut_after_the_idle_timeout(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, float]:
        async with Collector("127.0.0.1", 0, tmp_path, limits=Limits(idle_timeout_s=0.5)) as collector:
            port = collector.bound[1] if collector.bound else 0
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            data = await asyncio.wait_for(reader.read(100), timeout=10)
            writer.close()
            return data, time.monotonic() - started

    data, took = asyncio.run(main())
    assert data == b""  # closed by the collector
    assert 0.3 < took < 5


def test_slow_body_times_out_with_408(tmp_path: Path) -> None:
    async def main() -> tuple[bytes, Collector]:
        async with Collector("127.0.0.1", 0, tmp_path, limits=Limits(read_timeout_s=0.5)) as collector:
            port = collector.bound[1] if collector.bound else 0
            reader, writer = await slow_body(port, 1000, 10)
            answer = await asyncio.wait_for(reader.read(200), timeout=10)
            writer.close()
        return answer, collector

    answer, collector = asyncio.run(main())
    assert answer.startswith(b"HTTP/1.1 408")
    assert collector.counts.problems == {"read timeout: body not received in time": 1}


def test_at_the_connection_cap_the_longest_idle_connection_makes_room(tmp_path: Path) -> None:
    async def main() -> tuple[list[tuple[int, float]], int, Collector]:
        async with Collector("127.0.0.1", 0, tmp_path, limits=Limits(max_connections=20)) as collector:
            port = collector.bound[1] if collector.bound else 0
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(60)]
            await asyncio.sleep(0.3)
            answers = await post_results(f"http://{collector.address}/", ["a", "b", "c"])
            open_now = collector.connections
            for _, writer in idle:
                writer.close()
        return answers, open_now, collector

    answers, open_now, collector = asyncio.run(main())
    assert [status for status, _ in answers] == [202, 202, 202]
    assert max(took for _, took in answers) < 2.0
    assert open_now <= 20
    assert collector.counts.problems["connection limit: closed the longest-idle connection"] >= 40


def _real_posts_in_a_thread(url: str, out: list[tuple[int, float]], stop: threading.Event) -> None:
    """Real posts from their own event loop, one every 50 ms, until `stop`."""

    async def main() -> None:
        while not stop.is_set():
            out.extend(await post_results(url, [f"real-{len(out)}"], timeout_s=10))
            await asyncio.sleep(0.05)

    asyncio.run(main())


PEAK_RSS_BOUND_MIB = 256  # baseline (~65) + the 64 MiB in-flight budget + one large body's parse


@pytest.mark.e2e
def test_evtool_collect_survives_idle_connections_disconnects_and_big_bodies(tmp_path: Path) -> None:
    """1,000 idle connections, 300 mid-body disconnects, 60 concurrent 10 MB bodies: no traceback,
    peak RSS under the stated bound (it was 618 MB), and real posts answered meanwhile."""
    run_dir = tmp_path / "collect"
    with collector_process(run_dir) as collector:
        idle = idle_connections(collector.port, 1000)
        real: list[tuple[int, float]] = []
        stop = threading.Event()
        poster = threading.Thread(target=_real_posts_in_a_thread, args=(collector.url, real, stop))
        poster.start()

        async def load() -> tuple[int, list[int]]:
            made = await disconnect_mid_body(collector.port, 300)
            big = await post_big(collector.url, 60, 10_000_000)
            return made, big

        try:
            made, big = asyncio.run(load())
        finally:
            stop.set()
            poster.join(30)
        peak = collector.peak_rss_mib()
        alive = collector.process.poll() is None
        for s in idle:
            s.close()
        code, _, err = collector.stop()
    print(f"peak RSS {peak:.0f} MiB; big bodies {sorted(set(big))}; real posts {len(real)}", file=sys.stderr)
    assert alive
    assert code == 0
    assert "Traceback" not in err
    assert made == 300
    assert len(idle) == 1000
    assert big.count(202) >= 1
    assert set(big) <= {202, 503}
    assert peak < PEAK_RSS_BOUND_MIB
    assert real
    assert all(status == 202 for status, _ in real)
    assert statistics.median(t for _, t in real) < 1.0
    counts = json.loads((run_dir / "collector-0.json").read_text())
    assert counts["problems"]["poster disconnected mid-body"] == 300
    assert counts["results"] == big.count(202) + len(real)
    assert "poster disconnected mid-body: 300 times" in err  # one counted line, not 300 tracebacks


@pytest.mark.e2e
def test_low_fd_limit_real_posts_still_answered(tmp_path: Path) -> None:
    """RLIMIT_NOFILE 64: 300 connections held open; the cap (half the free descriptors) keeps
    accept() working, so real posts get 202 promptly and nothing prints a traceback."""
    run_dir = tmp_path / "collect"
    with collector_process(run_dir, nofile=64) as collector:
        idle = idle_connections(collector.port, 300)
        time.sleep(0.5)
        answers = asyncio.run(post_results(collector.url, [f"r-{i}" for i in range(10)], timeout_s=10))
        fds = collector.open_fds()
        for s in idle:
            s.close()
        code, _, err = collector.stop()
    assert code == 0
    assert "Traceback" not in err
    assert [status for status, _ in answers] == [202] * 10
    assert max(took for _, took in answers) < 3.0
    assert fds < 64
    counts = json.loads((run_dir / "collector-0.json").read_text())
    assert counts["problems"]["connection limit: closed the longest-idle connection"] >= 200


_UNCAPPED = """
import asyncio, signal, sys
from pathlib import Path
from evtool.load.collector import Collector, Limits

class Uncapped(Limits):
    def connection_cap(self) -> tuple[int, int]:
        return 1_000_000, 128  # no cap: accept() itself runs out of descriptors

async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    async with Collector("127.0.0.1", int(sys.argv[1]), Path(sys.argv[2]), limits=Uncapped()) as c:
        await stop.wait()
    print(c.counts.problems, file=sys.stderr)

asyncio.run(main())
"""


@pytest.mark.e2e
def test_accept_out_of_descriptors_is_counted_once_per_kind_and_recovers(tmp_path: Path) -> None:
    """Without the cap, accept() fails with EMFILE: one counted kind (no traceback a second),
    idle connections are shed, and a real post is answered while the others are still open."""
    run_dir = tmp_path / "collect"
    run_dir.mkdir()
    argv = [sys.executable, "-c", _UNCAPPED, "{port}", str(run_dir)]
    with collector_process(run_dir, nofile=48, argv=argv) as collector:
        idle = idle_connections(collector.port, 200)
        time.sleep(1.5)
        answers = asyncio.run(post_results(collector.url, ["late"], timeout_s=20))
        for s in idle:
            s.close()
        code, _, err = collector.stop()
    assert code == 0
    assert "Traceback" not in err
    assert "accept failed: Too many open files" in err
    assert answers[0][0] == 202


def test_a_busy_port_and_a_read_only_run_dir_are_one_line_each(tmp_path: Path) -> None:
    from evtool.errors import UsageError

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        with pytest.raises(UsageError, match="cannot listen"):
            asyncio.run(Collector("127.0.0.1", blocker.getsockname()[1], tmp_path / "a").start())
    finally:
        blocker.close()
    with pytest.raises(UsageError, match="out of range"):
        asyncio.run(Collector("127.0.0.1", 70000, tmp_path / "b").start())


@pytest.mark.e2e
def test_a_202_is_on_disk_within_the_flush_bound_even_after_kill_9(tmp_path: Path) -> None:
    """Every result answered 202 reaches the kernel within ~50 ms: kill -9 200 ms later loses none."""
    run_dir = tmp_path / "collect"
    with collector_process(run_dir) as collector:
        values = [f"k-{i}" for i in range(50)]
        answers = asyncio.run(post_results(collector.url, values))
        time.sleep(0.2)
        collector.process.kill()
        collector.process.wait(10)
    assert [status for status, _ in answers] == [202] * 50
    assert sorted(_keys(run_dir)) == sorted(correlation_key(v) for v in values)


def test_a_full_disk_is_503_and_one_counted_problem(tmp_path: Path) -> None:
    """ENOSPC on the results log: posts after it get 503 (not 202 and lost), counted once per kind."""
    from tests.support.filesystems import tiny_tmpfs

    async def main() -> tuple[list[int], Collector]:
        async with Collector("127.0.0.1", 0, tmp_path / "full" / "run") as collector:
            statuses: list[int] = []
            url = f"http://{collector.address}/"
            batch = json.dumps([{"correlationid": f"v-{i}"} for i in range(500)]).encode()
            async with aiohttp.ClientSession() as session:
                for _ in range(40):  # 40 x 500 records x 32 bytes = 640 kB > 64 kB
                    async with session.post(url, data=batch) as response:
                        statuses.append(response.status)
                    await asyncio.sleep(0.06)  # let the flush loop run
        return statuses, collector

    with tiny_tmpfs(tmp_path / "full"):
        statuses, collector = asyncio.run(main())
    assert 202 in statuses
    assert statuses[-1] == 503
    first_refusal = statuses.index(503)
    assert set(statuses[first_refusal:]) == {503}
    assert collector.write_error is not None
    assert "No space left on device" in collector.write_error  # kept after stop, for meta.incomplete
    assert any("No space left on device" in note for note in collector.counts.notes)
    assert collector.counts.problems == {"write error (No space left on device)": 1}
