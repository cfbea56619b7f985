"""`evtool audit` on the results a run collected: lost, duplicated and out-of-order processing.

Real collectors: a Kafka run whose consumer (tests/support/delivery_faults.py) skips one event and
answers every 40th twice, and an HTTP run whose system under test posts every 10th result twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.delivery_faults import FaultyDecider
from tests.support.http_servers import ResultPoster, free_port, serving
from tests.support.kafka_broker import Broker, run_evtool


def _audit(run_dir: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    ran = run_evtool("audit", run_dir, "--format", "json", *extra, timeout_s=120)
    assert ran.code in (0, 1), ran.stderr + ran.stdout
    return ran.code, json.loads(ran.stdout)


@pytest.mark.e2e
def test_kafka_run_with_a_skipped_and_doubled_decisions(kafka_broker: Broker, tmp_path: Path) -> None:
    """400 events; the consumer never answers event 7 and answers every 40th twice: one lost, ten
    duplicated; the topic itself is clean. Every guarantee fails for its own reason; results order
    is judged (with the topic's per-key data) and holds."""
    events = kafka_broker.create_topic(partitions=2, prefix="events")
    decisions = kafka_broker.create_topic(partitions=1, prefix="decisions")
    run_dir = tmp_path / "run"
    with FaultyDecider(kafka_broker.bootstrap, events, decisions, 2, skip=frozenset({7}),
                       duplicate_every=40) as decider:
        ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/{events}",
                         "--rate", "200/s", "--duration", "2s", "--seed", "9",
                         "--collect", f"kafka://{kafka_broker.bootstrap}/{decisions}",
                         "--result-timeout", "4s",
                         "--run-dir", run_dir, "-q", timeout_s=120)
    assert ran.code == 0, ran.stderr + ran.stdout
    assert decider.seen == 400
    assert len(decider.doubled) == 10
    code, audit = _audit(run_dir)
    assert code == 1
    results = audit["results"]
    assert results["expected"] == 400
    assert results["results"] == 409
    assert results["lost"] == {"count": 1, "examples": decider.skipped}
    assert results["duplicated"]["count"] == 10
    assert results["extra_results"] == 10
    assert set(results["duplicated"]["examples"]) <= set(decider.doubled)
    assert results["order_judged"] is True
    assert results["order_violations"]["count"] == 0
    assert results["unmatched"] == 0
    assert audit["topic"]["missing"]["count"] == audit["topic"]["duplicates"]["count"] == 0
    reasons = " ".join(audit["reasons"])
    assert "1 acknowledged events have no result" in reasons
    assert "10 events have more than one" in reasons
    assert _audit(run_dir, "--expect-delivery", "at-least-once")[0] == 1
    code, audit = _audit(run_dir, "--expect-delivery", "at-most-once")
    assert code == 1
    assert audit["reasons"] == ["10 events have more than one result (10 extra: duplicate processing)"]


def test_http_run_with_duplicate_results_fails_exactly_once_passes_at_least_once(tmp_path: Path) -> None:
    """No topic (HTTP): the results alone are judged; order is not (no per-key data)."""
    port = free_port()
    run_dir = tmp_path / "run"
    poster = ResultPoster(f"http://127.0.0.1:{port}/results", delay_s=0.05, duplicate_every=10)
    with serving(poster):
        ran = run_evtool("simulate", "-t", poster.url, "--rate", "200/s", "--duration", "1s",
                         "--collect", f"127.0.0.1:{port}", "--result-timeout", "5s",
                         "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr + ran.stdout
    code, audit = _audit(run_dir)
    assert code == 1
    assert audit["topic"] is None
    results = audit["results"]
    assert results["lost"]["count"] == 0
    assert 17 <= results["duplicated"]["count"] <= 20  # the last repeats may arrive after the wait ended
    assert results["order_judged"] is False
    code, audit = _audit(run_dir, "--expect-delivery", "at-least-once")
    assert code == 0
    assert audit["verdict"] == "PASS"
    text = run_evtool("audit", run_dir, "--expect-delivery", "at-least-once")
    assert "topic: not read (the run did not go to Kafka)" in text.stdout
    assert "results order: not judged" in text.stdout


def test_delivery_objective_without_an_audit_is_not_measurable(tmp_path: Path) -> None:
    """`--slo delivery=…` on a run never audited: NOT MEASURABLE (exit 1) saying to run the audit,
    not a PASS guessed from acknowledgements; a bad guarantee is one line, exit 2."""
    port = free_port()
    run_dir = tmp_path / "run"
    poster = ResultPoster(f"http://127.0.0.1:{port}/results", delay_s=0.01)
    with serving(poster):
        ran = run_evtool("simulate", "-t", poster.url, "--rate", "100/s", "--duration", "1s",
                         "--collect", f"127.0.0.1:{port}", "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    report = run_evtool("latency-report", run_dir, "--slo", "delivery=exactly-once", "--format", "json")
    assert report.code == 1
    doc = json.loads(report.stdout)
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert doc["slos"][0]["passed"] is None
    assert any("evtool audit" in r for r in doc["not_measurable"])
    assert doc["delivery"] is None
    audited = run_evtool("audit", run_dir)
    assert audited.code == 0, audited.stdout + audited.stderr
    assert run_evtool("latency-report", run_dir, "--slo", "delivery=exactly-once").code == 0
    bad = run_evtool("latency-report", run_dir, "--slo", "delivery=twice")
    assert bad.code == 2
    assert "twice" in bad.stderr
    assert "exactly-once" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = run_evtool("audit", run_dir, "--expect-delivery", "maybe")
    assert bad.code == 2
    assert "Traceback" not in bad.stderr
    missing = run_evtool("audit", tmp_path / "nowhere")
    assert missing.code == 2
    assert "not a run directory" in missing.stderr
