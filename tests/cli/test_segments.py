"""Three `simulate --segment I/3` processes, started together by `--start-at`, merged by
`latency-report`: the accounting and the schedule of one process sending it all."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from tests.support.cli import finish, run_evtool, spawn
from tests.support.http_servers import counting_sink, settle

from evtool.results.runlog import read_run

pytestmark = pytest.mark.e2e
RATE, SECONDS = "300/s", "2s"


def scenario(url: str, run_dir: Path, *extra: str) -> list[str]:
    return [
        "simulate",
        "--target",
        url,
        "--rate",
        RATE,
        "--duration",
        SECONDS,
        "--seed",
        "11",
        "--quiet",
        "--run-dir",
        str(run_dir),
        *extra,
    ]


def intended_offsets(run_dir: Path) -> list[int]:
    log = read_run(run_dir)
    return sorted((log.events["intended_ns"] - log.meta.clock_origin_ns).tolist())


def test_merged_segments_are_one_process_sending_the_whole_schedule(tmp_path: Path) -> None:
    with counting_sink() as sink:
        start = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
        segments = [tmp_path / f"segment-{i}" for i in range(3)]
        processes = [
            spawn(scenario(sink.url, d, "--segment", f"{i}/3", "--start-at", start))
            for i, d in enumerate(segments)
        ]
        for process in processes:
            code, _, err = finish(process, timeout_s=90)
            assert code == 0, err
        single = tmp_path / "single"
        ran = run_evtool(*scenario(sink.url, single, "--processes", "3"), timeout_s=90)
        assert ran.code == 0, ran.stderr
        settle(sink)
        received = sink.events

    metas = [json.loads((d / "meta.json").read_text()) for d in segments]
    assert [m["segment"] for m in metas] == ["0/3", "1/3", "2/3"]
    assert len({m["scenario_hash"] for m in metas}) == 1
    assert len({m["start_at"] for m in metas}) == 1
    assert len({m["clock_origin_ns"] for m in metas}) == 1  # one time zero for all three

    merged = [o for d in segments for o in intended_offsets(d)]
    assert sorted(merged) == intended_offsets(single)  # exactly the one process's schedule
    assert received == 2 * len(merged)

    report = run_evtool("latency-report", *map(str, segments), "--format", "json")
    document = json.loads(report.stdout)
    reference = json.loads(run_evtool("latency-report", str(single), "--format", "json").stdout)
    assert document["counts"] == reference["counts"]
    assert report.code == 0, report.stdout
    assert document["incomplete"] == []

    # the merged arrivals are as smooth as one process's: per 100 ms, the same counts
    windows = np.bincount(np.array(merged) // 100_000_000)
    assert windows[1:-1].min() >= 0.9 * windows[1:-1].mean()

    missing = run_evtool("latency-report", str(segments[0]), str(segments[2]), "--format", "json")
    assert missing.code == 1
    reasons = json.loads(missing.stdout)["incomplete"]
    assert any("segment(s) 1/3 missing" in reason for reason in reasons)


def test_segments_of_different_scenarios_are_not_merged_into_one_verdict(tmp_path: Path) -> None:
    with counting_sink() as sink:
        a, b = tmp_path / "a", tmp_path / "b"
        assert run_evtool(*scenario(sink.url, a, "--segment", "0/2"), timeout_s=60).code == 0
        other = [
            "simulate",
            "--target",
            sink.url,
            "--rate",
            "200/s",
            "--duration",
            SECONDS,
            "--seed",
            "11",
            "--quiet",
            "--run-dir",
            str(b),
            "--segment",
            "1/2",
        ]
        assert run_evtool(*other, timeout_s=60).code == 0
    report = run_evtool("latency-report", str(a), str(b), "--format", "json")
    assert report.code == 1
    reasons = json.loads(report.stdout)["incomplete"]
    assert any("different scenarios" in reason for reason in reasons)


def test_a_bad_segment_is_one_line_before_anything_is_sent(tmp_path: Path) -> None:
    with counting_sink() as sink:
        ran = run_evtool(*scenario(sink.url, tmp_path / "r", "--segment", "3/3"), timeout_s=60)
        assert sink.events == 0
    assert ran.code == 2
    assert "--segment '3/3'" in ran.stderr
    assert "Traceback" not in ran.stderr
