"""`evtool demo --broker kafka://…` end to end on the real broker: the installed command, the Kafka
consumer in its own process, the decisions read back from their topic, and the kept events topic
replayed into a second one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.support.cli import run_evtool
from tests.support.kafka_broker import Broker, kafka_broker
from tests.support.kafka_consumer import count_by_header

__all__ = ["kafka_broker"]


@pytest.mark.e2e
def test_demo_over_kafka_passes_and_its_events_topic_replays(kafka_broker: Broker, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_evtool("demo", "--broker", f"kafka://{kafka_broker.bootstrap}/demo", "--rate", "100/s",
                      "--duration", "4s", "--quiet", "--run-dir", run_dir, cwd=tmp_path, timeout_s=180)
    assert done.code == 0, done.stdout + done.stderr
    assert "all compatible" in done.stdout
    assert "PASS" in done.stdout
    assert "exactly-once" in done.stdout
    # the audit when this build has it, else the note saying it was skipped; never silence
    assert re.search(r"delivery (PASS|audit skipped)", done.stdout), done.stdout
    kept = re.findall(r"topic kept: kafka://\S+/(\S+)", done.stdout)
    assert len(kept) == 2
    events_topic, decisions_topic = kept
    assert events_topic.startswith("demo-")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert events_topic in json.dumps(meta)
    report = run_evtool("latency-report", run_dir, "--format", "json", cwd=tmp_path, timeout_s=60)
    counts = json.loads(report.stdout)["counts"]
    assert counts["scheduled"] == 400
    assert counts["ok"] == 400
    assert counts["lost"] == 0
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")

    events = count_by_header(kafka_broker.bootstrap, events_topic, "ce_id")
    decisions = count_by_header(kafka_broker.bootstrap, decisions_topic, "ce_correlationid")
    assert sum(events.values()) == 400
    assert decisions == events  # one committed decision per event, none for anything else

    copy = kafka_broker.create_topic(3, "demo-copy")
    replay = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{events_topic}",
                        "-t", f"kafka://{kafka_broker.bootstrap}/{copy}", "--as-fast-as-possible", "-q",
                        "--run-dir", tmp_path / "replay", cwd=tmp_path)
    assert replay.code == 0, replay.stderr
    original, replayed = (_per_key(kafka_broker, t) for t in (events_topic, copy))
    assert replayed == original  # the same events, under the same keys, in the same order per key


def _per_key(broker: Broker, topic: str) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    messages = broker.read_topic(topic, expect=400)
    for message in sorted(messages, key=lambda m: (m["partition"], m["offset"])):
        headers = message.get("headers") or []
        named = dict(zip(headers[::2], headers[1::2], strict=True))
        order.setdefault(str(message["key"]), []).append(str(named["ce_id"]))
    return order


@pytest.mark.parametrize(("broker", "message"), [
    ("http://127.0.0.1:9092", "--broker 'http://127.0.0.1:9092': expected kafka://HOST:PORT"),
    ("kafka://nohost", "--broker"),
])
def test_a_bad_broker_is_a_usage_error(tmp_path: Path, broker: str, message: str) -> None:
    done = run_evtool("demo", "--broker", broker, "--quiet", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert done.code == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
