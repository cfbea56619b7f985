"""The shipped scenario examples driven by the installed `evtool run`: the HTTP one against a local
service that posts results to the collector, the Kafka one against the real broker with the reference
consumer between the events topic and the results topic. Only the addresses are overridden."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import run_evtool
from tests.support.http_servers import ResultPoster, free_port, serving
from tests.support.kafka_broker import Broker, kafka_broker
from tests.support.kafka_results import reference_consumer

from evtool.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
__all__ = ["kafka_broker"]  # the fixture, for this module


def _report(run_dir: Path, *slos: str) -> dict[str, Any]:
    args: list[str | Path] = ["latency-report", run_dir, "--format", "json"]
    for slo in slos:
        args += ["--slo", slo]
    ran = run_evtool(*args)
    assert ran.code in (0, 1), ran.stderr
    data: dict[str, Any] = json.loads(ran.stdout)
    return data


@pytest.mark.e2e
@pytest.mark.parametrize(("delay_s", "code"), [(0.05, ExitCode.OK), (2.5, ExitCode.CHECK_FAILED)])
def test_http_example_end_to_end(tmp_path: Path, delay_s: float, code: ExitCode) -> None:
    """Results in 50 ms pass the example's objectives (exit 0); results in 2.5 s miss them (exit 1), and
    the summary is written either way."""
    port = free_port()
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    with serving(ResultPoster(f"http://127.0.0.1:{port}/results", delay_s=delay_s)) as poster:
        ran = run_evtool("run", EXAMPLES / "http-orders.toml", "--target", poster.url,
                         "--collect", f"127.0.0.1:{port}", "--duration", "3s", "--result-timeout", "4s",
                         "--run-dir", run_dir, "--summary-export", summary, "-q", timeout_s=120)
    assert ran.code == code, ran.stderr + ran.stdout
    exported = json.loads(summary.read_text())
    assert exported == _report(run_dir, "p99<=2s", "within(2s)>=99%", "lost<=0")
    assert exported["counts"]["scheduled"] == 300
    assert exported["verdict"] == ("PASS" if code is ExitCode.OK else "FAIL")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["scenario"]["sources"]["collector.address"] == "command line"
    assert meta["scenario"]["sources"]["events.mix"] == "scenario"


@pytest.mark.e2e
def test_kafka_example_end_to_end(kafka_broker: Broker, tmp_path: Path) -> None:
    """The example's ramp (5 s up to 200/s, 10 s at it, 5 s down: 3,000 events) to a topic, keyed by the
    order id and with its -X properties; the reference consumer's decisions read back from the results
    topic; the example's objectives pass."""
    orders = kafka_broker.create_topic(partitions=3, prefix="orders")
    decisions = kafka_broker.create_topic(partitions=3, prefix="decisions")
    bootstrap = kafka_broker.bootstrap
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    with reference_consumer(bootstrap, orders, decisions, service_time="50ms", log=tmp_path / "consumer.log"):
        ran = run_evtool("run", EXAMPLES / "kafka-orders.toml", "--target", f"kafka://{bootstrap}/{orders}",
                         "--collect", f"kafka://{bootstrap}/{decisions}", "--run-dir", run_dir,
                         "--summary-export", summary, "-q", timeout_s=240)
    assert ran.code == ExitCode.OK, ran.stderr + ran.stdout
    exported = json.loads(summary.read_text())
    assert exported == _report(run_dir, "p99<=2s", "lost<=0")
    counts = exported["counts"]
    assert counts["scheduled"] == counts["ok"] == counts["matched_results"] == 3000
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["transport"]["properties"]["linger.ms"] == "10"  # the file's [target.kafka]
    assert meta["transport"]["key"] == "data.order_id"
    assert meta["scenario"]["resolved"]["arrival"]["stages"] == "5s:200/s,10s:200/s,5s:0/s"
    message = kafka_broker.read_topic(orders, expect=1)[0]
    assert message["key"] == json.loads(message["payload"])["order_id"]  # the file's key = "data.order_id"
