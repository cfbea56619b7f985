"""`evtool latency-report` and `evtool collect` through their Typer commands: output and exit codes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.results.runfixtures import Ev, write_run
from tests.support.cli import invoke
from tests.support.http_servers import free_port

from evtool.results.runlog import Status, read_run


def run(argv: list[str]) -> tuple[int, str]:
    """(exit code, output) of `evtool ARGV` in this process (tests/support/cli.py `invoke`)."""
    outcome = invoke(argv)
    return outcome.code, outcome.all_output


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_run(tmp_path / "good", [Ev(str(i), i * 20, result_ms=[i * 20 + 150]) for i in range(100)])


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    events = [Ev(str(i), i * 20, result_ms=[i * 20 + 2500]) for i in range(100)]
    return write_run(tmp_path / "bad", [*events, Ev("lost", 5), Ev("f", 6, status=Status.FAILED)])


def test_passing_run_exits_0_with_a_text_report(good: Path) -> None:
    code, out = run(["latency-report", str(good)])
    assert code == 0
    assert "PASS" in out
    assert "end-to-end" in out
    assert "150 ms" in out


def test_missed_slo_exits_1_and_json_says_why(bad: Path) -> None:
    code, out = run(["latency-report", str(bad), "--format", "json"])
    doc = json.loads(out)
    assert code == 1
    assert doc["verdict"] == "FAIL"
    assert [s["passed"] for s in doc["slos"]] == [False, False, False]
    assert doc["counts"]["lost"] == 1
    assert doc["counts"]["failed"] == 1


def test_custom_slos_target_and_output_file(bad: Path, tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    code, _ = run(["latency-report", str(bad), "--slo", "p99<=3s", "--slo", "lost<=1%", "--slo", "failed<=1%",
                   "--target", "3s", "--format", "markdown", "--output", str(out)])
    assert code == 0
    text = out.read_text()
    assert "PASS" in text
    assert "within 3.00 s" in text


def test_html_output_and_baseline(good: Path, bad: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, _ = run(["latency-report", str(bad), "--baseline", str(good), "--format", "html", "-o", str(out)])
    assert code == 1
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Against baseline" in page


def test_not_a_run_dir_bad_slo_and_bad_duration_exit_2(good: Path, tmp_path: Path) -> None:
    code, message = run(["latency-report", str(tmp_path)])
    assert code == 2
    assert "not a run directory" in message
    code, message = run(["latency-report", str(good), "--slo", "p99 under 2s"])
    assert code == 2
    assert "'p99 under 2s'" in message
    assert "within(" in message
    code, message = run(["latency-report", str(good), "--target", "soon"])
    assert code == 2
    assert "soon" in message


def test_torn_log_of_a_run_that_ended_cleanly_is_incomplete(good: Path) -> None:
    shard = good / "events-0.bin"
    shard.write_bytes(shard.read_bytes()[:-20])
    code, out = run(["latency-report", str(good), "--format", "json"])
    doc = json.loads(out)
    assert code == 1
    assert doc["verdict"] == "INCOMPLETE"
    assert doc["counts"]["scheduled"] == 99
    assert any("36 bytes after the last whole record" in reason for reason in doc["incomplete"])


def test_collect_writes_a_results_only_run(tmp_path: Path) -> None:
    port = free_port()
    run_dir = tmp_path / "collected"
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(run(
        ["collect", "--listen", f"127.0.0.1:{port}", "--run-dir", str(run_dir), "--duration", "1500ms"])[0]))
    thread.start()
    deadline = time.monotonic() + 5
    statuses = []
    while time.monotonic() < deadline and len(statuses) < 3:
        try:
            body = {"correlationid": f"c{len(statuses)}"}
            statuses.append(httpx.post(f"http://127.0.0.1:{port}/r", json=body, timeout=1).status_code)
        except httpx.TransportError:
            time.sleep(0.05)
    httpx_post_uncorrelated = httpx.post(f"http://127.0.0.1:{port}/r", json={"nothing": 1}, timeout=1)
    thread.join(10)
    assert outcome == [0]
    assert statuses == [202, 202, 202]
    assert httpx_post_uncorrelated.status_code == 202
    log = read_run(run_dir)
    assert log.meta.target == "collect-only"
    assert len(log.results) == 3
    assert any("1 results had no correlation value" in note for note in log.meta.notes)


def test_collect_bad_listen_exits_2(tmp_path: Path) -> None:
    code, message = run(["collect", "--listen", "nowhere", "--run-dir", str(tmp_path / "x")])
    assert code == 2
    assert "--listen" in message
