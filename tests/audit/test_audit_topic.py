"""`evtool audit` on the real broker: the events topic read back against what the run acknowledged.

Every fault is made on the topic itself (records deleted, copied by a second producer, delivered
late) and its expected count is worked out from the test's own reading of the topic, not from
the audit's code.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.delivery_faults import (
    Message,
    copy_records,
    delete_before,
    drop_acks,
    produce_to,
    read_all,
)
from tests.support.kafka_broker import Broker, Ran, run_evtool
from tests.support.kafka_results import foreign_ids, produce, structured_result

from evtool.results.runlog import OFFSET_DTYPE, Status, correlation_key, read_run

pytestmark = pytest.mark.e2e


def _simulate(broker: Broker, topic: str, run_dir: Path, *extra: str, rate: str = "400/s",
              duration: str = "2s", mix: str = "order=60,inventory=25,complaint=15") -> None:
    ran = run_evtool("simulate", "--target", f"kafka://{broker.bootstrap}/{topic}", "--rate", rate,
                     "--duration", duration, "--mix", mix, "--seed", "5", "--run-dir", run_dir, "-q", *extra,
                     timeout_s=120)
    assert ran.code == 0, ran.stderr + ran.stdout


def _audit(run_dir: Path, *extra: str) -> tuple[Ran, dict[str, Any]]:
    ran = run_evtool("audit", run_dir, "--format", "json", *extra, timeout_s=120)
    assert ran.code in (0, 1), ran.stderr + ran.stdout
    return ran, json.loads(ran.stdout)


def _headers(m: Message) -> dict[str, str]:
    return {k: v.decode() for k, v in m.headers}


def _ok_count(run_dir: Path) -> int:
    return int(np.count_nonzero(read_run(run_dir).events["status"] == Status.OK))


def test_clean_run_audits_exactly_once_and_reads_only_the_runs_range(
        kafka_broker: Broker, tmp_path: Path) -> None:
    """Other producers' records before the run lie below its offsets: never read; after it, the tail
    past the last acked offset stops after 1000 of them in a row (each partition got 1500).
    Every acked event is found once, in per-key order; the audit says how much it read and how fast,
    writes audit.json, and latency-report judges `delivery=exactly-once` from it in every format."""
    topic = kafka_broker.create_topic(partitions=3, prefix="audit")
    produce(kafka_broker.bootstrap, topic, [structured_result(i) for i in foreign_ids(60)])
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir)
    after = [structured_result(i) for i in foreign_ids(1500)]
    for partition in range(3):
        produce_to(kafka_broker.bootstrap, topic, partition, after)
    ok = _ok_count(run_dir)
    assert ok == 800
    ran, audit = _audit(run_dir)
    assert ran.code == 0
    assert audit["verdict"] == "PASS"
    topic_audit = audit["topic"]
    assert topic_audit["acked"] == topic_audit["present"] == ok
    assert topic_audit["records_read"] == ok + 3 * 1000  # none of the 60 before, 1000 of each 1500 after
    assert topic_audit["foreign"] == 3 * 1000
    assert topic_audit["read_s"] > 0
    for name in ("missing", "unacked_present", "duplicates", "order_violations"):
        assert topic_audit[name]["count"] == 0, name
    assert topic_audit["unkeyed"] == 0  # every generated event carries partitionkey and sequence
    assert sum(p["read"] for p in topic_audit["partitions"]) == ok + 3000
    for p in topic_audit["partitions"]:
        assert p["end"] == p["last"] + 1001 < p["high"]
    assert audit["results"] is None
    assert json.loads((run_dir / "audit.json").read_text())["verdict"] == "PASS"
    text = run_evtool("audit", run_dir)
    assert text.code == 0
    assert f"{ok} records read in" in text.stdout
    assert "records/s" in text.stdout

    report = run_evtool("latency-report", run_dir, "--slo", "delivery=exactly-once", "--format", "json")
    assert report.code == 0, report.stdout + report.stderr
    doc = json.loads(report.stdout)
    assert doc["slos"] == [{"slo": "delivery=exactly-once", "passed": True, "actual": 0, "unit": "count"}]
    assert doc["delivery"]["audits"][0]["topic"]["present"] == ok
    for fmt, marker in (("markdown", "**Delivery audit**"), ("html", "<h2>Delivery audit</h2>"),
                        ("text", "delivery audit against exactly-once: PASS")):
        shown = run_evtool("latency-report", run_dir, "--format", fmt)
        assert marker in shown.stdout, fmt


def test_records_deleted_from_the_topic_are_acked_but_missing(kafka_broker: Broker, tmp_path: Path) -> None:
    """`delete_records` below offset 25 of partition 0 (as kafka-delete-records does): exactly the run's
    records there are missing, named by id; exactly-once and at-least-once fail, at-most-once passes."""
    topic = kafka_broker.create_topic(partitions=2, prefix="audit")
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir, rate="300/s")
    before = read_all(kafka_broker.bootstrap, topic, 2)
    gone = [m for m in before if m.partition == 0 and m.offset < 25]
    assert len(gone) == 25
    delete_before(kafka_broker.bootstrap, topic, 0, 25)
    ran, audit = _audit(run_dir)
    assert ran.code == 1
    assert audit["verdict"] == "FAIL"
    missing = audit["topic"]["missing"]
    assert missing["count"] == 25
    assert set(missing["examples"]) <= {m.event_id for m in gone}
    assert len(missing["examples"]) == 5
    assert audit["topic"]["duplicates"]["count"] == 0
    assert audit["topic"]["present"] == _ok_count(run_dir) - 25
    partition = next(p for p in audit["topic"]["partitions"] if p["partition"] == 0)
    assert partition["low"] == 25
    assert partition["first"] == 0
    assert any("missing from the topic" in r for r in audit["reasons"])
    assert _audit(run_dir, "--expect-delivery", "at-least-once")[0].code == 1
    ran, audit = _audit(run_dir, "--expect-delivery", "at-most-once")
    assert ran.code == 0
    assert audit["verdict"] == "PASS"


def test_duplicates_written_by_a_second_producer_fail_exactly_once_not_at_least_once(
        kafka_broker: Broker, tmp_path: Path) -> None:
    """Seven events written again (same value, key, headers) by another producer, one of them three
    times: 7 duplicated events, 8 extra copies; not loss, and not an order violation (each event's
    first copy is where it was)."""
    topic = kafka_broker.create_topic(partitions=3, prefix="audit")
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir)
    records = read_all(kafka_broker.bootstrap, topic, 3)
    again = records[10:17]
    copy_records(kafka_broker.bootstrap, topic, [*again, again[0]])
    ran, audit = _audit(run_dir)
    assert ran.code == 1
    topic_audit = audit["topic"]
    assert topic_audit["duplicates"]["count"] == 7
    assert topic_audit["extra_copies"] == 8
    assert set(topic_audit["duplicates"]["examples"]) <= {m.event_id for m in again}
    assert topic_audit["missing"]["count"] == 0
    assert topic_audit["order_violations"]["count"] == 0
    assert topic_audit["records_read"] == _ok_count(run_dir) + 8  # the copies, in the tail
    ran, audit = _audit(run_dir, "--expect-delivery", "at-least-once")
    assert ran.code == 0
    assert audit["verdict"] == "PASS"
    assert _audit(run_dir, "--expect-delivery", "at-most-once")[0].code == 1
    report = run_evtool("latency-report", run_dir, "--slo", "delivery=exactly-once", "--format", "json")
    assert report.code == 1
    slo = json.loads(report.stdout)["slos"][0]
    assert slo["passed"] is False
    assert slo["actual"] == 7


def test_on_the_topic_but_never_acknowledged_is_an_unknown_outcome_not_loss(
        kafka_broker: Broker, tmp_path: Path) -> None:
    """Acks of five events removed from the offsets file (the run never learned they were written):
    counted apart as unknown outcomes, named by id; the exactly-once verdict still passes."""
    topic = kafka_broker.create_topic(partitions=2, prefix="audit")
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir, rate="200/s")

    def all_but_five(records: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        keep = np.ones(len(records), dtype=bool)
        keep[100:105] = False
        return keep

    removed = drop_acks(run_dir, all_but_five)
    assert len(removed) == 5
    ran, audit = _audit(run_dir)
    assert ran.code == 0, audit
    topic_audit = audit["topic"]
    assert topic_audit["unacked_present"]["count"] == 5
    assert {correlation_key(i) for i in topic_audit["unacked_present"]["examples"]} == {
        bytes(k) for k in removed["key"]}
    assert topic_audit["acked"] == _ok_count(run_dir) - 5
    assert topic_audit["missing"]["count"] == 0
    assert topic_audit["present"] == _ok_count(run_dir)


def _expected_order_violations(messages: list[Message]) -> int:
    """Per partition in offset order, each event's first copy: how many have a `sequence` below one
    already seen for their `partitionkey` (written independently of the audit's numpy code)."""
    seen: set[str] = set()
    highest: dict[tuple[int, str], int] = {}
    late = 0
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        headers = _headers(m)
        if headers["ce_id"] in seen:
            continue
        seen.add(headers["ce_id"])
        group = (m.partition, headers["ce_partitionkey"])
        sequence = int(headers["ce_sequence"])
        if sequence < highest.get(group, -1):
            late += 1
        highest[group] = max(sequence, highest.get(group, -1))
    return late


def test_events_redelivered_late_are_per_key_order_violations(kafka_broker: Broker, tmp_path: Path) -> None:
    """The first 120 records of partition 0 deleted and written again at its end (what a producer's
    retry after a failed batch does without idempotence): nothing is missing or duplicated, but
    every re-written event whose key (SKU) had later events in between is out of order."""
    topic = kafka_broker.create_topic(partitions=1, prefix="audit")
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir, rate="500/s", mix="inventory")
    before = read_all(kafka_broker.bootstrap, topic, 1)
    first = before[:120]
    delete_before(kafka_broker.bootstrap, topic, 0, 120)
    copy_records(kafka_broker.bootstrap, topic, first)
    after = read_all(kafka_broker.bootstrap, topic, 1)
    expected = _expected_order_violations(after)
    assert expected > 0  # SKUs repeat within a 1000-event run
    ran, audit = _audit(run_dir)
    topic_audit = audit["topic"]
    assert topic_audit["order_violations"]["count"] == expected
    assert set(topic_audit["order_violations"]["examples"]) <= {m.event_id for m in first}
    assert topic_audit["missing"]["count"] == 0
    assert topic_audit["duplicates"]["count"] == 0
    assert ran.code == 0  # order is reported, not part of a delivery guarantee
    keys = Counter(_headers(m)["ce_partitionkey"] for m in before)
    assert max(keys.values()) > 1


def test_a_sequence_is_per_key_monotonic_in_what_the_producer_wrote(
        kafka_broker: Broker, tmp_path: Path) -> None:
    """What the Kafka binding carries, read by the test's own consumer: ce_partitionkey is the
    message key (the entity), ce_sequence a zero-padded string rising per key along the offsets."""
    topic = kafka_broker.create_topic(partitions=2, prefix="audit")
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir, rate="300/s")
    messages = read_all(kafka_broker.bootstrap, topic, 2)
    assert _expected_order_violations(messages) == 0
    for m in messages:
        headers = _headers(m)
        assert m.key is not None
        assert headers["ce_partitionkey"] == m.key.decode()
        assert len(headers["ce_sequence"]) == 12
        assert headers["ce_sequence"].isdigit()
    offsets = np.frombuffer(b"".join(p.read_bytes() for p in run_dir.glob("kafka-offsets-*.bin")),
                            dtype=OFFSET_DTYPE)
    assert len(offsets) == len(messages)


def test_structured_mode_records_are_read_from_their_json(kafka_broker: Broker, tmp_path: Path) -> None:
    """Structured content mode (the event is the value): ids, keys and sequences come from the JSON."""
    topic = kafka_broker.create_topic(partitions=2, prefix="audit")
    run_dir = tmp_path / "run"
    _simulate(kafka_broker, topic, run_dir, "--mode", "structured", rate="300/s")
    records = read_all(kafka_broker.bootstrap, topic, 2)
    copy_records(kafka_broker.bootstrap, topic, records[:3])
    ran, audit = _audit(run_dir, "--expect-delivery", "at-least-once")
    assert ran.code == 0
    topic_audit = audit["topic"]
    assert topic_audit["present"] == _ok_count(run_dir) == 600
    assert topic_audit["unkeyed"] == 0
    assert topic_audit["duplicates"]["count"] == 3
    assert topic_audit["order_violations"]["count"] == 0
