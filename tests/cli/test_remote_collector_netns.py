"""A sender host and a collector host (network namespaces): the offset to a collector whose clock is
250 ms ahead (test hook) is measured within its bound and the latencies are corrected; a collector
host that cannot answer the time endpoint leaves the offset unknown, which is NOT MEASURABLE.

(The kernel here has no netem qdisc, so a slow link is the collector's reply-delay test hook, in
tests/cli/test_remote_collector.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.support.cli import installed_evtool, run_evtool
from tests.support.netns import Host, hosts

from evtool.load.collector import TEST_HOOK_SKEW_ENV
from evtool.results.runlog import RunMeta

pytestmark = pytest.mark.e2e
SKEW_MS, SERVICE_MS, EVENTS = 250, 20, 40
COLLECTOR_PORT, CONSUMER_PORT, OLD_COLLECTOR_PORT = 19000, 18081, 19001


def _wait_listening(host: Host, port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        probe = subprocess.run(host.command("ss", "-ltnH", f"sport = :{port}"), capture_output=True,
                               text=True, check=False)
        if probe.stdout.strip():
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {host.address}:{port}")


def _simulate(sender: Host, collector: Host, clock_port: int, run_dir: Path) -> None:
    sent = subprocess.run(
        sender.command(installed_evtool(), "simulate", "--target",
                       f"http://{collector.address}:{CONSUMER_PORT}/events", "--rate", "20/s",
                       "--count", str(EVENTS), "--quiet", "--remote-collector",
                       f"{collector.address}:{clock_port}", "--run-dir", str(run_dir)),
        capture_output=True, text=True, timeout=120, check=False)
    assert sent.returncode == 0, sent.stderr


def test_a_remote_host_clock_offset_is_measured_corrected_and_judged(tmp_path: Path) -> None:
    sender_dir, old_dir, collected = tmp_path / "sender", tmp_path / "sender-old", tmp_path / "collector"
    with hosts(2) as (collector_host, sender_host):
        evtool = installed_evtool()
        collector = subprocess.Popen(
            collector_host.command(evtool, "collect", "--listen",
                                   f"{collector_host.address}:{COLLECTOR_PORT}", "--run-dir", str(collected)),
            env={**os.environ, TEST_HOOK_SKEW_ENV: str(SKEW_MS)}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        consumer = subprocess.Popen(
            collector_host.command(evtool, "consumer", "serve", "--host", collector_host.address, "--port",
                                   str(CONSUMER_PORT), "--concurrency", "8", "--service-time",
                                   f"{SERVICE_MS}ms",
                                   "--results-to",
                                   f"http://{collector_host.address}:{COLLECTOR_PORT}/results"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # a stand-in for an older collector's clock: an HTTP server without the time endpoint (404)
        old = subprocess.Popen(
            collector_host.command("python3", "-m", "http.server", "--bind", collector_host.address,
                                   str(OLD_COLLECTOR_PORT), "--directory", str(tmp_path)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_listening(collector_host, COLLECTOR_PORT, collector)
            _wait_listening(collector_host, CONSUMER_PORT, consumer)
            _wait_listening(collector_host, OLD_COLLECTOR_PORT, old)
            _simulate(sender_host, collector_host, COLLECTOR_PORT, sender_dir)
            _simulate(sender_host, collector_host, OLD_COLLECTOR_PORT, old_dir)
            time.sleep(2)  # the last decisions posted to the collector
        finally:
            for process in (consumer, collector, old):
                process.send_signal(signal.SIGINT)
            consumer.communicate(timeout=30)
            old.communicate(timeout=30)
            _, collector_err = collector.communicate(timeout=30)
        assert collector.returncode == 0, collector_err

    clock = RunMeta.read(sender_dir).collector_clock
    assert clock is not None
    assert clock["same_host"] is False  # a 10.x address: another host
    assert abs(clock["offset_ns"] - SKEW_MS * 1e6) <= clock["bound_ns"]
    assert clock["bound_ns"] < 20e6  # a bridge between namespaces: far under 1 % of 2 s

    report = run_evtool("latency-report", sender_dir, collected, "--format", "json")
    doc = json.loads(report.stdout)
    assert doc["not_measurable"] == []
    e2e = doc["latency_ms"]["end_to_end"]
    assert e2e["count"] == EVENTS  # every result, from the other host's run dir
    # about the 20 ms service time; uncorrected it would be 250 ms more
    assert SERVICE_MS <= e2e["p50"] < SKEW_MS / 2

    old_clock = RunMeta.read(old_dir).collector_clock
    assert old_clock is not None
    assert old_clock["offset_ns"] is None
    assert "HTTP 404" in old_clock["error"]
    report = run_evtool("latency-report", old_dir, collected, "--format", "json")
    doc = json.loads(report.stdout)
    assert report.code == 1
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert any("is unknown" in reason for reason in doc["not_measurable"])
