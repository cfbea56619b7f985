"""A run on a real Kafka broker, reported: the transport, topic, partitions touched (checked against
what the broker holds), the producer's settings, and the Kafka error of events that failed."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.kafka_broker import Broker, run_evtool

pytestmark = pytest.mark.e2e


def _log(path: Path, count: int, big_at: set[int]) -> None:
    """Replayable events, some too large for the topic (random hex: compression cannot shrink it)."""
    rng = np.random.default_rng(11)
    with path.open("w") as out:
        for n in range(count):
            data: dict[str, Any] = {"order_id": f"ORD-{n}", "n": n}
            if n in big_at:
                data["blob"] = rng.bytes(10_000).hex()
            out.write(json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/tests",
                                  "type": "commerce.order.placed", "time": "2026-01-01T00:00:00Z",
                                  "datacontenttype": "application/json", "data": data}) + "\n")


def test_report_of_a_kafka_run_names_topic_partitions_settings_and_kafka_errors(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic(partitions=3, prefix="report", config={"max.message.bytes": "4000"})
    log = tmp_path / "log.jsonl"
    _log(log, 30, {4, 9, 17})
    run_dir = tmp_path / "run"
    target = f"kafka://{kafka_broker.bootstrap}/{topic}"
    sent = run_evtool("replay", log, "--target", target, "--rate", "30/s", "-X", "linger.ms=0",
                      "--run-dir", run_dir, "-q")
    assert sent.code == 0, sent.stderr
    summary = sent.stdout.splitlines()
    assert any(line.startswith("failed 3: kafka MSG_SIZE_TOO_LARGE: ") for line in summary), sent.stdout

    report = run_evtool("latency-report", run_dir, "--format", "json")
    doc = json.loads(report.stdout)
    run = doc["runs"][0]
    assert (run["transport"], run["topic"]) == ("kafka", topic)
    on_broker = Counter(m["partition"] for m in kafka_broker.read_topic(topic, expect=27))
    assert run["partitions"] == {str(p): n for p, n in sorted(on_broker.items())}
    assert sum(run["partitions"].values()) == 27
    assert run["settings"]["properties"]["acks"] == "all"
    assert run["settings"]["properties"]["linger.ms"] == "0"
    [failure] = doc["failures"]
    assert (failure["outcome"], failure["reason"], failure["count"]) == ("failed", "TRANSPORT", 3)
    assert failure["detail"].startswith("MSG_SIZE_TOO_LARGE: ")
    assert doc["incomplete"] == []  # records with a failure text are not damaged records

    text = run_evtool("latency-report", run_dir).stdout
    assert f"topic {topic}" in text
    assert f"{len(on_broker)} partition(s) touched" in text
    assert "acks=all" in text
    assert "failed 3: kafka MSG_SIZE_TOO_LARGE: " in text
