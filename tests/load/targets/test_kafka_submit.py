"""The Kafka target on the dispatcher's submit path (produce + delivery report, no task per event).

As fast as possible with a small in-flight cap: every event waits for a slot (never dropped), is
acked once, and the topic holds exactly the acked events. Messages held back past the grace
period: every one aborted with its send time, and librdkafka's later purge reports change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.support.kafka_broker import Broker, run_evtool

from evtool.load.targets.base import RunSubmitter, Submitter, TargetOptions
from evtool.load.targets.kafka import KafkaTarget, read_offsets
from evtool.results.runlog import Reason, Status, correlation_key, read_run

pytestmark = pytest.mark.e2e


def test_the_kafka_target_takes_the_submit_path() -> None:
    target = KafkaTarget(TargetOptions(target="kafka://127.0.0.1:9/orders"))
    assert isinstance(target, Submitter)
    assert isinstance(target, RunSubmitter), "as fast as possible: runs of events in one call"


def test_as_fast_as_possible_through_a_small_in_flight_cap(kafka_broker: Broker, tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    ran = run_evtool("generate", "--count", "3000", "--seed", "5", "-o", log)
    assert ran.code == 0, ran.stderr
    topic = kafka_broker.create_topic(partitions=3, prefix="submit")
    run_dir = tmp_path / "run"
    ran = run_evtool("replay", log, "--as-fast-as-possible", "--content-mode", "structured",
                     "--max-in-flight", "50",
                     "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    events = read_run(run_dir).events
    assert len(events) == 3000
    assert (events["status"] == Status.OK).all(), "waited for a slot: none dropped"
    assert (events["ack_ns"] >= events["sent_ns"]).all()
    assert (events["sent_ns"] >= events["intended_ns"]).all()
    ids = [json.loads(line)["id"] for line in log.read_text().splitlines()]
    assert {bytes(k) for k in events["key"]} == {correlation_key(i) for i in ids}
    offsets = read_offsets(run_dir)
    assert len(offsets) == 3000
    assert len({(int(r["partition"]), int(r["offset"])) for r in offsets}) == 3000
    messages = kafka_broker.read_topic(topic, expect=3000)
    assert len(messages) == 3000, "the topic holds exactly the acknowledged events"
    assert sorted(json.loads(m["payload"])["id"] for m in messages) == sorted(ids)

    generated = tmp_path / "generated"
    ran = run_evtool("simulate", "--as-fast-as-possible", "--count", "2000", "--seed", "2",
                     "--max-in-flight", "100", "--target", f"kafka://{kafka_broker.bootstrap}/{topic}",
                     "--run-dir", generated, "-q")
    assert ran.code == 0, ran.stderr
    made = read_run(generated).events
    assert len(made) == 2000
    assert (made["status"] == Status.OK).all()
    assert len(kafka_broker.read_topic(topic, expect=5000)) == 5000


def test_messages_unanswered_past_the_grace_period_are_aborted_once(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """linger.ms of 60 s holds every message in librdkafka's queue: after the 0.5 s grace each event is
    aborted (in flight: with its send time); the purge's delivery reports at close add no record."""
    topic = kafka_broker.create_topic(partitions=1, prefix="linger")
    run_dir = tmp_path / "run"
    ran = run_evtool("simulate", "--rate", "200/s", "--count", "100", "--grace", "0.5s", "--mix", "order=1",
                     "-X", "linger.ms=60000", "--timeout", "120s", "--run-dir", run_dir,
                     "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "-q")
    assert ran.code != 2, ran.stderr
    events = read_run(run_dir).events
    assert len(events) == 100, "one record per event, the purge's reports ignored"
    assert len({bytes(k) for k in events["key"]}) == 100
    assert ((events["status"] == Status.FAILED) & (events["reason"] == Reason.CANCELLED)).all()
    assert (events["sent_ns"] > 0).all()
    assert (events["ack_ns"] == 0).all()
    assert len(read_offsets(run_dir)) == 0
    assert np.count_nonzero(events["status"] == Status.OK) == 0
    assert kafka_broker.read_topic(topic, timeout_s=1) == [], "purged: nothing reached the topic"


@pytest.mark.parametrize("command", ["simulate", "replay"])
def test_runs_with_a_full_local_queue_account_for_every_event_once(
    kafka_broker: Broker, tmp_path: Path, command: str
) -> None:
    """As fast as possible through runs of events (`submit_run`) into a queue of 50 messages: within
    one run some are acked, others refused at once (QUEUE_FULL); each event has exactly one record,
    the acked ones have their offsets, and the topic holds exactly them."""
    topic = kafka_broker.create_topic(partitions=2, prefix="runs")
    log = tmp_path / "events.jsonl"
    assert run_evtool("generate", "--count", "1500", "--seed", "9", "-o", log).code == 0
    source = (["replay", log, "--as-fast-as-possible", "--mode", "structured"] if command == "replay"
              else ["simulate", "--as-fast-as-possible", "--count", "1500", "--seed", "9"])
    run_dir = tmp_path / "run"
    ran = run_evtool(*source, "--target", f"kafka://{kafka_broker.bootstrap}/{topic}",
                     "-X", "queue.buffering.max.messages=50", "-X", "linger.ms=20", "--run-dir", run_dir,
                     "-q")
    assert ran.code == 0, ran.stderr
    events = read_run(run_dir).events
    assert len(events) == 1500
    assert len({bytes(k) for k in events["key"]}) == 1500, "one record per event"
    ok = events[events["status"] == Status.OK]
    dropped = events[events["status"] == Status.DROPPED]
    assert len(ok) + len(dropped) == 1500
    assert len(ok) >= 50, (len(ok), len(dropped))
    assert len(dropped) >= 100, (len(ok), len(dropped))
    assert (dropped["reason"] == Reason.QUEUE_FULL).all()
    assert (dropped["sent_ns"] == 0).all()
    assert (dropped["ack_ns"] == 0).all()
    assert (ok["ack_ns"] >= ok["sent_ns"]).all()
    assert (ok["sent_ns"] >= ok["intended_ns"]).all()
    offsets = read_offsets(run_dir)
    assert {bytes(k) for k in offsets["key"]} == {bytes(k) for k in ok["key"]}, "offsets of the acked ones"
    assert len({(int(r["partition"]), int(r["offset"])) for r in offsets}) == len(ok)
    assert len(kafka_broker.read_topic(topic, expect=len(ok))) == len(ok)


def test_runs_unanswered_past_the_grace_period_are_aborted_once(kafka_broker: Broker, tmp_path: Path) -> None:
    """As fast as possible (runs of events), linger.ms of 60 s: every event aborted once with its send
    time after the grace; librdkafka's purge reports at close are ignored."""
    topic = kafka_broker.create_topic(partitions=1, prefix="runlinger")
    run_dir = tmp_path / "run"
    ran = run_evtool("simulate", "--as-fast-as-possible", "--count", "600", "--grace", "0.5s",
                     "-X", "linger.ms=60000", "--timeout", "120s", "--run-dir", run_dir,
                     "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "-q")
    assert ran.code != 2, ran.stderr
    events = read_run(run_dir).events
    assert len(events) == 600
    assert len({bytes(k) for k in events["key"]}) == 600
    assert ((events["status"] == Status.FAILED) & (events["reason"] == Reason.CANCELLED)).all()
    assert (events["sent_ns"] > 0).all()
    assert (events["ack_ns"] == 0).all()
    assert len(read_offsets(run_dir)) == 0
