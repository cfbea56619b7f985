"""`simulate --remote-collector`: a real `evtool collect` process on 127.0.0.1 whose clock is shifted
by a test hook; the sender measures the offset, the report corrects for it, and a slow time
endpoint (another test hook) makes the bound too large to stand behind."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support.cli import run_evtool
from tests.support.collector_load import CollectorProcess, collector_process
from tests.support.http_servers import ResultPoster, recording_sink, serving

from evtool.load.collector import TEST_HOOK_REPLY_DELAY_ENV, TEST_HOOK_SKEW_ENV
from evtool.results.runlog import RunMeta

SKEW_MS = 250.0
RESULT_DELAY_S = 0.3  # the system under test posts each result this long after the event
EVENTS = 20


def _send(sender: Path, collector: CollectorProcess, poster: ResultPoster, *extra: str) -> None:
    ran = run_evtool("simulate", "--target", poster.url, "--rate", "20/s", "--count", str(EVENTS),
                     "--remote-collector", f"127.0.0.1:{collector.port}", "--run-dir", sender, "--quiet",
                     *extra)
    assert ran.code == 0, ran.stderr
    deadline = time.monotonic() + 15
    while poster.posted < EVENTS and time.monotonic() < deadline:  # the last results on their way
        time.sleep(0.05)
    assert poster.posted == EVENTS


def _report(*runs: Path, fmt: str = "json") -> tuple[int, str]:
    ran = run_evtool("latency-report", *runs, "--format", fmt)
    return ran.code, ran.stdout


def _clock(sender: Path) -> dict[str, Any]:
    clock = RunMeta.read(sender).collector_clock
    assert clock is not None
    return clock


def test_a_skewed_collector_clock_is_measured_and_corrected(tmp_path: Path) -> None:
    sender, collected = tmp_path / "sender", tmp_path / "collector"
    with collector_process(collected, env={TEST_HOOK_SKEW_ENV: str(SKEW_MS)}) as collector:
        poster = ResultPoster(collector.url, delay_s=RESULT_DELAY_S)
        with serving(poster):
            _send(sender, collector, poster)
        code, _, err = collector.stop()
        assert code == 0, err

    clock = _clock(sender)
    assert clock["kind"] == "remote"
    assert clock["same_host"] is True
    assert clock["samples"] == 16  # a burst before time zero and one after the end
    assert clock["drift_ns"] is not None
    assert abs(clock["offset_ns"] - SKEW_MS * 1e6) <= clock["bound_ns"]  # the truth is within the bound
    assert clock["bound_ns"] < 20e6  # loopback: well under 1 % of the 2 s target

    code, out = _report(sender, collected)
    doc = json.loads(out)
    assert doc["verdict"] == "PASS", doc["not_measurable"]
    assert code == 0
    e2e = doc["latency_ms"]["end_to_end"]
    assert e2e["count"] == EVENTS
    # corrected: about the system's 300 ms; uncorrected it would be 550 ms and more
    assert RESULT_DELAY_S * 1000 <= e2e["p50"] < RESULT_DELAY_S * 1000 + SKEW_MS / 2
    entry = doc["clocks"]["runs"][0]
    assert entry["corrected"] is True
    assert abs(entry["offset_ms"] - SKEW_MS) <= entry["bound_ms"]
    assert doc["runs"][0]["collector_clock"]["offset_ns"] == clock["offset_ns"]
    stages = {stage["metric"]: stage["clocks"] for stage in doc["stages"]}
    assert stages["end_to_end"] == stages["ack_to_result"] == "sender → remote collector (offset corrected)"
    assert stages["ack"] == "this host"

    # without the correction the same records give the skewed latency: the test can fail
    meta = RunMeta.read(sender)
    meta.collector_clock = None
    meta.write(sender)
    uncorrected = json.loads(_report(sender, collected)[1])["latency_ms"]["end_to_end"]
    assert uncorrected["p50"] >= RESULT_DELAY_S * 1000 + SKEW_MS - 1


def test_sender_processes_measure_on_the_parent_clock(tmp_path: Path) -> None:
    sender, collected = tmp_path / "sender", tmp_path / "collector"
    with collector_process(collected, env={TEST_HOOK_SKEW_ENV: str(SKEW_MS)}) as collector:
        poster = ResultPoster(collector.url, delay_s=RESULT_DELAY_S)
        with serving(poster):
            _send(sender, collector, poster, "--processes", "2")
        collector.stop()
    clock = _clock(sender)
    assert clock["samples"] == 16
    assert abs(clock["offset_ns"] - SKEW_MS * 1e6) <= clock["bound_ns"]
    e2e = json.loads(_report(sender, collected)[1])["latency_ms"]["end_to_end"]
    assert e2e["count"] == EVENTS
    assert RESULT_DELAY_S * 1000 <= e2e["p50"] < RESULT_DELAY_S * 1000 + SKEW_MS / 2


def test_the_offset_and_bound_are_stated_in_every_view(tmp_path: Path) -> None:
    sender, collected = tmp_path / "sender", tmp_path / "collector"
    with collector_process(collected, env={TEST_HOOK_SKEW_ENV: str(SKEW_MS)}) as collector:
        poster = ResultPoster(collector.url, delay_s=0.05)
        with serving(poster):
            _send(sender, collector, poster)
        collector.stop()
    offset_ms = _clock(sender)["offset_ns"] / 1e6
    stated = f"offset {offset_ms:+.3f} ms ±"
    for fmt in ("text", "markdown", "html"):
        code, out = _report(sender, collected, fmt=fmt)
        assert code == 0
        assert stated in out, fmt
        assert "1% of the tightest latency judged" in out, fmt


def test_a_slow_time_endpoint_makes_the_run_not_measurable(tmp_path: Path) -> None:
    sender, collected = tmp_path / "sender", tmp_path / "collector"
    with collector_process(collected, env={TEST_HOOK_REPLY_DELAY_ENV: "100"}) as collector:
        poster = ResultPoster(collector.url, delay_s=0.05)
        with serving(poster):
            _send(sender, collector, poster)
        collector.stop()
    clock = _clock(sender)
    assert clock["bound_ns"] >= 50e6  # every exchange took the delay: rtt ≥ 100 ms
    code, out = _report(sender, collected)
    doc = json.loads(out)
    assert code == 1
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert len(doc["not_measurable"]) == 1
    assert "known only to" in doc["not_measurable"][0]
    assert "1% of the 2000 ms" in doc["not_measurable"][0]


def test_an_older_collector_on_this_host_leaves_the_offset_zero_by_construction(tmp_path: Path) -> None:
    """A stand-in for a collector without the time endpoint: an HTTP server that answers GET 405."""
    sender, collected = tmp_path / "sender", tmp_path / "collector"
    with recording_sink() as old_collector, collector_process(collected) as collector:
        port = int(old_collector.url.rsplit(":", 1)[1].split("/")[0])
        poster = ResultPoster(collector.url, delay_s=0.05)
        with serving(poster):
            ran = run_evtool("simulate", "--target", poster.url, "--rate", "20/s", "--count", "5",
                             "--remote-collector", f"127.0.0.1:{port}", "--run-dir", sender, "--quiet")
            assert ran.code == 0, ran.stderr
            while poster.posted < 5:
                time.sleep(0.05)
        collector.stop()
    clock = _clock(sender)
    assert clock["offset_ns"] is None
    assert clock["same_host"] is True
    assert "HTTP" in clock["error"]
    _code, out = _report(sender, collected)
    doc = json.loads(out)
    assert doc["verdict"] == "PASS", doc["not_measurable"]  # same host: one wall clock
    assert "0 by construction" in doc["clocks"]["runs"][0]["line"]


def test_results_of_a_remote_collector_must_be_given_to_the_report(tmp_path: Path) -> None:
    sender, collected = tmp_path / "sender", tmp_path / "collector"
    with collector_process(collected) as collector:
        poster = ResultPoster(collector.url, delay_s=0.05)
        with serving(poster):
            _send(sender, collector, poster)
        collector.stop()
    code, out = _report(sender)
    doc = json.loads(out)
    assert code == 1
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert "give its run directory to latency-report too" in doc["not_measurable"][0]


def test_an_unreachable_remote_collector_is_one_line_before_anything_is_sent(tmp_path: Path) -> None:
    with recording_sink() as target:
        ran = run_evtool("simulate", "--target", target.url, "--rate", "20/s", "--count", "5",
                         "--remote-collector", "127.0.0.1:1", "--run-dir", tmp_path / "run", "--quiet")
        assert ran.code == 2
        assert "--remote-collector 127.0.0.1:1: cannot reach the collector" in ran.stderr
        assert "Traceback" not in ran.stderr
        assert not target.arrivals
    assert not (tmp_path / "run").exists()


def test_remote_collector_and_collect_are_exclusive(tmp_path: Path) -> None:
    ran = run_evtool("simulate", "--target", "-", "--rate", "20/s", "--count", "1",
                     "--collect", "127.0.0.1:0", "--remote-collector", "127.0.0.1:9000",
                     "--run-dir", tmp_path / "run")
    assert ran.code == 2
    assert "not both" in ran.stderr
    assert "Traceback" not in ran.stderr
