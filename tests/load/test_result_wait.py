"""The end-of-run wait counts distinct matched results: duplicates and foreign ids never shorten it.

Real runs (the CLI in-process, a real system under test posting results to the real
collector on 127.0.0.1), and the ledger on its own against real HTTP posts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from tests.support.cli import installed_evtool
from tests.support.http_servers import ResultPoster, free_port, other_run_id, serving

from evtool.cli.app import run as evtool
from evtool.load.collector import Collector, CorrelateBy
from evtool.load.sources.base import RunIndex
from evtool.results.clock import RunClock
from evtool.results.runlog import EventIds, EventLogWriter, RunMeta, Status, correlation_key, read_run


def _distinct_result_keys(run_dir: Path) -> set[bytes]:
    return {bytes(k) for k in read_run(run_dir).results["key"]}


def _ok_keys(run_dir: Path) -> set[bytes]:
    events = read_run(run_dir).events
    return {bytes(k) for k in events["key"][events["status"] == Status.OK]}


def test_duplicate_and_foreign_results_do_not_end_the_wait_early(tmp_path: Path) -> None:
    """10% of results posted twice (and some of another run): every acked event still gets its result.

    Before: the wait stopped when the record count reached the ok count, while the last
    results (0.3 s behind) were still coming: ~15 events lost.
    """
    port = free_port()
    run_dir = tmp_path / "run"
    poster = ResultPoster(f"http://127.0.0.1:{port}/results", delay_s=0.3, duplicate_every=10,
                          foreign_every=10)
    with serving(poster):
        code = evtool(["simulate", "-t", poster.url, "--rate", "200/s", "--duration", "1s",
                       "--collect", f"127.0.0.1:{port}", "--result-timeout", "5s",
                       "--run-dir", str(run_dir), "-q"])
    assert code == 0
    ok = _ok_keys(run_dir)
    assert len(ok) == 200
    missing = ok - _distinct_result_keys(run_dir)
    assert not missing, f"{len(missing)} acked events have no result: the wait ended early"
    counts = json.loads((run_dir / "collector-0.json").read_text())
    assert counts["matched"] == 200
    assert poster.duplicates == 20
    # the last events' repeats may come after the wait ended (their first copy matched already)
    assert 17 <= counts["duplicates"] <= 20
    assert counts["foreign"] == poster.foreign == 20
    split = counts["matched"] + counts["unacked"] + counts["duplicates"] + counts["foreign"]
    assert split == counts["results"]


def test_lost_results_are_still_lost_after_the_timeout(tmp_path: Path) -> None:
    """The wait ends at the result timeout when results never come (and no sooner than that)."""
    port = free_port()
    run_dir = tmp_path / "run"
    poster = ResultPoster(f"http://127.0.0.1:{port}/results", post_results=False)
    with serving(poster):
        started = time.monotonic()
        code = evtool(["simulate", "-t", poster.url, "--rate", "50/s", "--count", "10",
                       "--collect", f"127.0.0.1:{port}", "--result-timeout", "1s",
                       "--run-dir", str(run_dir), "-q"])
        took = time.monotonic() - started
    assert code == 0
    assert took >= 1.0
    counts = json.loads((run_dir / "collector-0.json").read_text())
    assert counts["matched"] == 0


def _run_dir_with(tmp_path: Path, keys: list[tuple[bytes, Status]]) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunMeta(run_id="r", command=[], options={}, tool_version="t", target="t", clock_origin_ns=0,
            started_at="2026-01-01T00:00:00Z").write(run_dir)
    writer = EventLogWriter(run_dir, 0)
    for i, (key, status) in enumerate(keys):
        writer.append(key=key, event_type="t", schema_version=1, intended_ns=i + 1, sent_ns=i + 1,
                      ack_ns=i + 2 if status is Status.OK else 0, status=status)
    writer.close()
    return run_dir


async def _post(url: str, values: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        for value in values:
            async with session.post(url, json={"correlationid": value}) as response:
                assert response.status == 202


@pytest.mark.parametrize("structured", [True, False], ids=["structured-ids", "replayed-ids"])
def test_the_wait_counts_distinct_acked_keys_only(tmp_path: Path, structured: bool) -> None:
    """Structured ids take the bitmap path, any other id (replay, --correlate-by) the sorted keys."""
    ids = EventIds(3)
    names = [ids.next()[0] if structured else f"order-{i}" for i in range(6)]
    statuses = [Status.OK] * 4 + [Status.FAILED, Status.OK]
    run_dir = _run_dir_with(tmp_path, [(correlation_key(n), s) for n, s in zip(names, statuses, strict=True)])
    index = RunIndex.of_run(run_dir)
    assert index.acked == 5

    async def main() -> tuple[float, bool, dict[str, int]]:
        async with Collector("127.0.0.1", 0, run_dir, CorrelateBy.parse(), RunClock()) as collector:
            url = f"http://{collector.address}/"
            # before the dispatch ended: a duplicate, a failed event's result, a foreign one
            await _post(url, [names[0], names[0], names[4], other_run_id(), "unknown"])
            await collector.expect(run_dir)
            waiting = asyncio.create_task(collector.wait_for_results(10.0))
            await _post(url, [names[1], names[1], names[2], names[3]])  # 4 distinct of 5 acked
            await asyncio.sleep(0.3)
            assert not waiting.done(), "the wait ended with an acked event still missing"
            posted = time.monotonic()
            await _post(url, [names[5]])
            outcome = await waiting
            c = collector.counts
            return time.monotonic() - posted, outcome.complete, {
                "matched": c.matched, "unacked": c.unacked, "duplicates": c.duplicates,
                "foreign": c.foreign, "results": c.results}

    took, complete, counts = asyncio.run(main())
    assert complete
    assert took < 0.5  # woken by the result itself, not a poll
    assert counts == {"matched": 5, "unacked": 1, "duplicates": 2, "foreign": 2, "results": 10}


def test_stop_ends_the_wait(tmp_path: Path) -> None:
    run_dir = _run_dir_with(tmp_path, [(correlation_key("a"), Status.OK)])

    async def main() -> tuple[bool, float]:
        async with Collector("127.0.0.1", 0, run_dir) as collector:
            await collector.expect(run_dir)
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(0.2, stop.set)
            started = time.monotonic()
            outcome = await collector.wait_for_results(30.0, stop)
            return outcome.stopped, time.monotonic() - started

    stopped, took = asyncio.run(main())
    assert stopped
    assert took < 2.0


def test_index_of_hashed_keys_that_look_structured(tmp_path: Path) -> None:
    """1 in 64 hashed keys has the v8 bits by chance: they must not make a 2**42-row bitmap."""
    keys = [correlation_key(f"v-{i}") for i in range(2000)]
    run_dir = _run_dir_with(tmp_path, [(k, Status.OK) for k in keys])
    index = RunIndex.of_run(run_dir)
    assert index.acked == 2000
    assert len(index.state) == 2000
    rows = index.rows(np.frombuffer(b"".join(keys), dtype="V16"))
    assert (rows >= 0).all()
    assert len(set(rows.tolist())) == 2000


@pytest.mark.e2e
def test_ctrl_c_during_the_wait_is_an_interrupt(tmp_path: Path) -> None:
    """SIGINT while waiting for late results: exit 130, the run says interrupted (it said done, 0)."""
    port = free_port()
    run_dir = tmp_path / "run"
    poster = ResultPoster(f"http://127.0.0.1:{port}/results", post_results=False)
    with serving(poster):
        process = subprocess.Popen(
            [installed_evtool(), "simulate", "-t", poster.url, "--rate", "20/s", "--count", "5",
             "--collect", f"127.0.0.1:{port}", "--result-timeout", "60s", "--run-dir", str(run_dir), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"})
        deadline = time.monotonic() + 30
        while poster.received < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the dispatch is over: now in the wait for results
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 130, err.decode()
    assert RunMeta.read(run_dir).interrupted


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))


def test_a_result_source_other_than_http_plugs_in_by_scheme(tmp_path: Path) -> None:
    """The runner knows only the ResultSource seam: a registered memory:// source runs a whole wait."""
    from tests.support import memory_source

    memory_source.install()
    run_dir = tmp_path / "run"
    poster = ResultPoster("unused", delay_s=0.3, duplicate_every=5,
                          deliver=lambda value: memory_source.deliver("seam", value))
    with serving(poster):
        code = evtool(["simulate", "-t", poster.url, "--rate", "100/s", "--count", "50",
                       "--collect", "memory://seam", "--result-timeout", "5s",
                       "--run-dir", str(run_dir), "-q"])
    assert code == 0
    assert not (_ok_keys(run_dir) - _distinct_result_keys(run_dir))
    counts = json.loads((run_dir / "collector-0.json").read_text())
    assert counts["matched"] == 50
    assert counts["duplicates"] >= 9
    assert RunMeta.read(run_dir).collector == "memory://seam"
