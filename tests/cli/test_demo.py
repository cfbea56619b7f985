"""`evtool demo` end to end: the installed command, a real consumer process, a real collector."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from tests.support.cli import Ran, run_evtool

from evtool.catalog.bundled import bundled_settings
from evtool.demo import DemoOptions


def _demo(tmp_path: Path, *args: str) -> tuple[Ran, dict[str, object]]:
    run_dir = tmp_path / "run"
    done = run_evtool("demo", "--quiet", "--run-dir", run_dir, *args, cwd=tmp_path)
    report = run_evtool("latency-report", run_dir, "--format", "json", cwd=tmp_path, timeout_s=60)
    assert report.stdout, report.stderr
    return done, json.loads(report.stdout)


@pytest.mark.e2e
def test_demo_passes_with_counts_that_add_up_and_p50_near_the_service_time(tmp_path: Path) -> None:
    done, report = _demo(tmp_path, "--rate", "100/s", "--duration", "3s", "--service-time", "50ms")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all compatible" in done.stdout
    assert "PASS" in done.stdout
    counts = report["counts"]
    assert isinstance(counts, dict)
    assert counts["scheduled"] == 300
    assert counts["ok"] + counts["failed"] + counts["dropped"] + counts.get("aborted", 0) == 300
    assert counts["lost"] == 0
    latency = report["latency_ms"]
    assert isinstance(latency, dict)
    # one decision takes 50 ms ± 20 %; with the queue never backing up, p50 sits just above 50 ms
    assert 45 <= latency["end_to_end"]["p50"] <= 80
    html = re.search(r"HTML report: (\S+)", done.stdout)
    assert html is not None
    assert (tmp_path / html.group(1)).read_text().startswith("<!DOCTYPE html>")
    port = re.search(r"127\.0\.0\.1:(\d+)/events", done.stdout)
    assert port is not None
    with socket.socket() as probe:  # the consumer's port is closed again
        assert probe.connect_ex(("127.0.0.1", int(port.group(1)))) != 0


@pytest.mark.e2e
def test_overload_breaks_the_objective_and_exits_1(tmp_path: Path) -> None:
    done, report = _demo(tmp_path, "--rate", "200/s", "--duration", "3s", "--overload")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout
    latency = report["latency_ms"]
    assert isinstance(latency, dict)
    # capacity is half the rate: the queue grows for 3 s, the last events wait about 1.5 s more
    assert latency["end_to_end"]["p99"] > 1000


def test_overload_sizes_the_consumer_below_the_rate() -> None:
    options = DemoOptions(rate=200, service_time_s=0.05, overload=True)
    assert options.capacity_per_s == 100
    assert DemoOptions(rate=200).capacity_per_s == 320


def test_bundled_settings_carry_the_catalogue_modes() -> None:
    settings = bundled_settings()
    assert settings.schema_dir.is_dir()
    assert settings.mode_for("commerce.order.placed").value == "FULL_TRANSITIVE"
