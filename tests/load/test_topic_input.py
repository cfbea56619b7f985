"""`evtool replay kafka://…/TOPIC`: a topic range re-driven into another target, on the real broker."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from tests.support.cli import run_evtool
from tests.support.kafka_broker import Broker, kafka_broker

from evtool.results.runlog import Status, read_run

__all__ = ["kafka_broker"]


def _records(broker: Broker, topic: str, expect: int) -> list[dict[str, object]]:
    """kcat's view: each record's key, id (ce_id) and partition, in the order each partition holds them."""
    found = []
    for message in broker.read_topic(topic, expect=expect):
        headers = message.get("headers") or []
        named = dict(zip(headers[::2], headers[1::2], strict=True))
        found.append({"key": message["key"], "id": named["ce_id"], "partition": message["partition"],
                      "offset": message["offset"], "ts": message.get("ts")})
    return found


def _per_key(records: list[dict[str, object]]) -> dict[object, list[object]]:
    """Each key's events in topic order; events with no key (no entity) have no per-key order."""
    order: dict[object, list[object]] = {}
    for record in sorted(records, key=lambda r: (str(r["partition"]), int(str(r["offset"])))):
        if record["key"] is not None:
            order.setdefault(record["key"], []).append(record["id"])
    return order


def _simulate(broker: Broker, topic: str, count: int, rate: str = "1000/s") -> None:
    ran = run_evtool("simulate", "-t", f"kafka://{broker.bootstrap}/{topic}", "--rate", rate,
                     "--count", str(count), "--seed", "11", "-q")
    assert ran.code == 0, ran.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_replay_into_a_second_topic_holds_the_same_events_keys_and_per_key_order(
        kafka_broker: Broker, tmp_path: Path, workers: int) -> None:
    source, copy = kafka_broker.create_topic(3, "orders"), kafka_broker.create_topic(2, "copy")
    _simulate(kafka_broker, source, 400)
    ran = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{source}",
                     "-t", f"kafka://{kafka_broker.bootstrap}/{copy}", "--as-fast-as-possible",
                     "--workers", str(workers), "--run-dir", str(tmp_path / "run"), "-q")
    assert ran.code == 0, ran.stderr
    assert "400 records in range" in ran.stderr
    original, replayed = _records(kafka_broker, source, 400), _records(kafka_broker, copy, 400)
    assert len(replayed) == 400
    assert sorted(str(r["id"]) for r in replayed) == sorted(str(r["id"]) for r in original)
    keys = {r["id"]: r["key"] for r in original}
    assert all(keys[r["id"]] == r["key"] for r in replayed)
    # inventory SKUs and complaining customers recur: each key's events arrive in the order the source held
    assert max(len(ids) for ids in _per_key(original).values()) > 1
    assert _per_key(replayed) == _per_key(original)
    log = read_run(tmp_path / "run")  # the same run log and accounting as every other run
    assert len(log.events) == 400
    assert (log.events["status"] == Status.OK).all()
    assert log.meta.ended_at is not None


def test_to_file_round_trips_a_generated_log(kafka_broker: Broker, tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(3, "log")
    generated = tmp_path / "generated.jsonl"
    ran = run_evtool("generate", "--count", "250", "--seed", "5", "--flow", "order-lifecycle",
                     "--out", str(generated))
    assert ran.code == 0, ran.stderr
    sent = run_evtool("replay", str(generated), "-t", f"kafka://{kafka_broker.bootstrap}/{topic}",
                      "--as-fast-as-possible", "--run-dir", str(tmp_path / "sent"), "-q")
    assert sent.code == 0, sent.stderr
    snapshot = tmp_path / "snapshot.jsonl"
    ran = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{topic}", "--to-file", str(snapshot))
    assert ran.code == 0, ran.stderr
    assert "250 events written" in ran.stdout
    before = [json.loads(line) for line in generated.read_text().splitlines()]
    after = [json.loads(line) for line in snapshot.read_text().splitlines()]
    assert sorted(before, key=lambda e: e["id"]) == sorted(after, key=lambda e: e["id"])
    # the snapshot replays like any log written by `evtool generate`
    again = run_evtool("replay", str(snapshot), "-t", "-", "--as-fast-as-possible", "-q",
                       "--run-dir", str(tmp_path / "again"))
    assert again.code == 0, again.stderr
    assert len(again.stdout.splitlines()) == 250


def test_a_live_producer_does_not_extend_the_replay(kafka_broker: Broker, tmp_path: Path) -> None:
    from confluent_kafka import Producer

    topic, copy = kafka_broker.create_topic(2, "live"), kafka_broker.create_topic(2, "copy")
    _simulate(kafka_broker, topic, 200)
    stop = threading.Event()
    written = [0]

    def keep_writing() -> None:  # more events, the same shape, all the while the replay runs
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5})
        while not stop.is_set():
            headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
                       ("ce_source", b"tests/live"), ("ce_type", b"test.live"),
                       ("content-type", b"application/json")]
            producer.produce(topic, b"{}", b"k", headers=headers)
            written[0] += 1
            producer.poll(0)
            time.sleep(0.002)
        producer.flush(10)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        time.sleep(0.3)
        ran = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{topic}",
                         "-t", f"kafka://{kafka_broker.bootstrap}/{copy}", "--rate", "200/s",
                         "--run-dir", str(tmp_path / "run"), "-q", timeout_s=60)
    finally:
        stop.set()
        writer.join(20)
    assert ran.code == 0, ran.stderr
    in_range = int(ran.stderr.split(" records in range")[0].rsplit(" ", 1)[-1])
    assert in_range >= 200
    log = read_run(tmp_path / "run")
    assert len(log.events) == in_range  # what was there when it began, not what kept coming
    assert written[0] > in_range - 200 + 100  # the producer did write on while it ran (> 1 s at 200/s)


def _timed(broker: Broker, topic: str, gaps_ms: list[int]) -> list[str]:
    """Records with broker-visible timestamps `gaps_ms` apart (from 2026-11-30T10:00:00Z); their ids."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    base = 1_796_032_800_000  # 2026-11-30T10:00:00Z
    ids = []
    at = base
    for gap in gaps_ms:
        at += gap
        event_id = str(uuid.uuid4())
        ids.append(event_id)
        headers = [("ce_specversion", b"1.0"), ("ce_id", event_id.encode()), ("ce_source", b"tests/timed"),
                   ("ce_type", b"test.timed"), ("content-type", b"application/json")]
        producer.produce(topic, b"{}", b"one-key", headers=headers, timestamp=at)
    assert producer.flush(10) == 0
    return ids


def test_time_range_and_the_recorded_gaps(kafka_broker: Broker, tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(1, "timed")
    ids = _timed(kafka_broker, topic, [0, 1000, 1000, 400, 800, 1000, 1000])  # 10:00:00 … 10:00:05.2
    ran = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{topic}", "-t", "-",
                     "--from", "2026-11-30T10:00:01Z", "--to", "2026-11-30T10:00:04.2Z", "--speed", "2",
                     "--run-dir", str(tmp_path / "run"), "-q")
    assert ran.code == 0, ran.stderr
    sent = [json.loads(line)["id"] for line in ran.stdout.splitlines()]
    assert sent == ids[1:5]  # 10:00:01, :02, :02.4, :03.2 (10:00:04.2 is the end, not in range)
    log = read_run(tmp_path / "run")
    intended = np.sort(log.events["intended_ns"])
    gaps_ms = np.diff(intended) / 1e6
    assert np.allclose(gaps_ms, [500, 200, 400], atol=1)  # the recorded gaps at --speed 2


def test_offset_ranges(kafka_broker: Broker) -> None:
    topic = kafka_broker.create_topic(2, "offsets")
    _simulate(kafka_broker, topic, 100)
    ran = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{topic}", "-t", "-",
                     "--from-offset", "0:10,1:0", "--to-offset", "0:20,1:5", "--as-fast-as-possible", "-q")
    assert ran.code == 0, ran.stderr
    assert len(ran.stdout.splitlines()) == 15


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "yesterday"], "--from 'yesterday': not a time"),
    (["--from-offset", "0:x"], "--from-offset '0:x': expected"),
    (["--from-offset", "9:0"], "partition 9"),
    (["--from", "2026-11-30T10:00:00Z", "--from-offset", "3"], "--from or --from-offset"),
])
def test_bad_range_is_a_usage_error(kafka_broker: Broker, args: list[str], message: str) -> None:
    topic = kafka_broker.create_topic(2, "bad")
    ran = run_evtool("replay", f"kafka://{kafka_broker.bootstrap}/{topic}", "-t", "-", *args)
    assert ran.code == 2, ran.stderr
    assert message in ran.stderr
    assert "Traceback" not in ran.stderr


def test_range_options_need_a_topic(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("")
    ran = run_evtool("replay", str(log), "-t", "-", "--from-offset", "3")
    assert ran.code == 2
    assert "apply to a kafka:// topic" in ran.stderr


def test_replay_needs_a_target_unless_it_writes_a_file(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text("")
    ran = run_evtool("replay", str(log))
    assert ran.code == 2
    assert "give --target" in ran.stderr
