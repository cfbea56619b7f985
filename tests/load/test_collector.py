"""The collector against real HTTP posts on 127.0.0.1, in every content mode."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from evtool.errors import UsageError
from evtool.load.collector import Collector, CorrelateBy
from evtool.results.clock import RunClock
from evtool.results.runlog import RESULT_DTYPE, correlation_key


def _keys(run_dir: Path) -> list[bytes]:
    records = np.fromfile(run_dir / "results-0.bin", dtype=RESULT_DTYPE)
    return [bytes(k) for k in records["key"]]


async def _post_all(url: str, posts: list[tuple[dict[str, str], bytes]]) -> list[int]:
    async with aiohttp.ClientSession() as session:
        statuses = []
        for headers, body in posts:
            async with session.post(url, data=body, headers=headers) as response:
                statuses.append(response.status)
        return statuses


Posts = list[tuple[dict[str, str], bytes]]


def _run(run_dir: Path, posts: Posts, by: CorrelateBy | None = None) -> Collector:
    async def main() -> Collector:
        async with Collector("127.0.0.1", 0, run_dir, by, RunClock()) as collector:
            statuses = await _post_all(f"http://{collector.address}/any/path", posts)
            assert statuses == [202] * len(posts)
        return collector

    return asyncio.run(main())


def test_every_content_mode_is_recorded_with_its_correlation_key(tmp_path: Path) -> None:
    structured = {
        "specversion": "1.0",
        "id": "r2",
        "source": "/ai",
        "type": "decision",
        "correlationid": "cause-2",
        "data": {"x": 1},
    }
    batch = [
        dict(structured, id="r3", correlationid="cause-3"),
        dict(structured, id="r4", correlationid=None, causationid="cause-4"),
    ]
    posts = [
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "r1",
                "ce-source": "/ai",
                "ce-type": "decision",
                "ce-correlationid": "cause-1",
                "content-type": "application/json",
            },
            b'{"decision": "ok"}',
        ),
        ({"content-type": "application/cloudevents+json"}, json.dumps(structured).encode()),
        ({"content-type": "application/cloudevents-batch+json"}, json.dumps(batch).encode()),
        ({"content-type": "application/json"}, json.dumps({"correlationid": "cause-5"}).encode()),
    ]
    collector = _run(tmp_path, posts)
    assert _keys(tmp_path) == [correlation_key(f"cause-{i}") for i in range(1, 6)]
    assert collector.counts.results == 5
    assert collector.counts.uncorrelated == 0
    counts = json.loads((tmp_path / "collector-0.json").read_text())
    assert counts["results"] == 5
    assert counts["requests"] == 4
    assert counts["settings"]["transport"] == "http"  # what the source was (a Kafka source says its topic)


def test_field_path_reaches_into_data_and_plain_json(tmp_path: Path) -> None:
    by = CorrelateBy.parse("correlationid,data.order_id")
    posts = [
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "r1",
                "ce-source": "/s",
                "ce-type": "t",
                "content-type": "application/json",
            },
            b'{"order_id": "o-1"}',
        ),
        (
            {"content-type": "application/cloudevents+json"},
            json.dumps(
                {"specversion": "1.0", "id": "r2", "source": "/s", "type": "t", "data": {"order_id": 2}}
            ).encode(),
        ),
        ({"content-type": "application/json"}, b'{"order_id": "o-3"}'),
    ]
    _run(tmp_path, posts, by)
    assert _keys(tmp_path) == [correlation_key("o-1"), correlation_key("2"), correlation_key("o-3")]


def test_results_without_correlation_are_counted_not_dropped(tmp_path: Path) -> None:
    posts = [
        ({"content-type": "application/json"}, b'{"something": "else"}'),
        ({"content-type": "application/json"}, b"not json at all"),
        ({"content-type": "application/json"}, b'{"correlationid": "c"}'),
    ]
    collector = _run(tmp_path, posts)
    assert collector.counts.uncorrelated == 1
    assert collector.counts.unreadable == 1
    assert collector.counts.results == 1
    assert _keys(tmp_path) == [correlation_key("c")]


def test_arrival_time_is_the_run_clock(tmp_path: Path) -> None:
    clock = RunClock()

    async def main() -> tuple[int, int]:
        async with Collector("127.0.0.1", 0, tmp_path, None, clock) as collector:
            before = clock.now_ns()
            await _post_all(f"http://{collector.address}/", [({}, b'{"correlationid": "a"}')])
            return before, clock.now_ns()

    before, after = asyncio.run(main())
    received = int(np.fromfile(tmp_path / "results-0.bin", dtype=RESULT_DTYPE)["received_ns"][0])
    assert before <= received <= after


def test_busy_port_is_a_usage_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with Collector("127.0.0.1", 0, tmp_path / "a") as first:
            port = first.bound[1] if first.bound else 0
            with pytest.raises(UsageError, match="cannot listen"):
                async with Collector("127.0.0.1", port, tmp_path / "b"):
                    pass

    asyncio.run(main())


def test_bad_correlate_by_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="correlate-by"):
        CorrelateBy.parse("correlationid,,data.")


def test_the_time_endpoint_answers_the_run_clock_and_is_no_result(tmp_path: Path) -> None:
    """GET /evtool/clock: the collector's run clock, read between the asking and the answer."""
    clock = RunClock(wall_origin_ns=RunClock().wall_origin_ns + 5_000_000_000)  # 5 s ahead

    async def main() -> tuple[int, int, int, int, Collector]:
        async with Collector("127.0.0.1", 0, tmp_path, clock=clock) as collector, \
                aiohttp.ClientSession() as s:
            before = clock.now_ns()
            async with s.get(f"http://{collector.address}/evtool/clock") as answer:
                now = (await answer.json())["now_ns"]
            after = clock.now_ns()
            async with s.get(f"http://{collector.address}/other") as other:
                status = other.status
        return before, now, after, status, collector

    before, now, after, status, collector = asyncio.run(main())
    assert before <= now <= after
    assert status == 405  # any other GET is still not a result
    assert collector.counts.requests == 1
    assert collector.counts.results == 0
