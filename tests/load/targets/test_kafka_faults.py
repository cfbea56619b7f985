"""Faults on a real broker: stopped mid-run and started again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.kafka_broker import OwnBroker

from evtool.load.targets.kafka import read_offsets
from evtool.results.runlog import Reason, Status, correlation_key, failure_details, read_run

pytestmark = pytest.mark.e2e


def test_broker_stopped_mid_run_counts_add_up_and_nothing_acked_is_missing(
    own_kafka_broker: OwnBroker, tmp_path: Path
) -> None:
    from tests.support.kafka_broker import Broker

    broker = Broker(own_kafka_broker.bootstrap)
    topic = broker.create_topic(partitions=2, prefix="outage")
    run_dir = tmp_path / "run"
    sender = subprocess.Popen(
        [sys.executable, "-m", "evtool", "simulate", "--target", f"kafka://{broker.bootstrap}/{topic}",
         "--rate", "100/s", "--duration", "8s", "--mix", "order=1", "--timeout", "30s", "--grace", "30s",
         "--run-dir", str(run_dir), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "events-0.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)
        own_kafka_broker.stop()
        time.sleep(2.0)
        own_kafka_broker.start()
        _out, err = sender.communicate(timeout=120)
    finally:
        if sender.poll() is None:
            sender.kill()
    assert sender.returncode == 0, err
    events = read_run(run_dir).events
    status = events["status"]
    assert len(events) == 800, "every scheduled event has its record"
    ok = status == Status.OK
    assert ((status == Status.FAILED) | (status == Status.DROPPED) | ok).all()
    assert ok.sum() + (status == Status.FAILED).sum() + (status == Status.DROPPED).sum() == 800
    assert ok.sum() > 0, failure_details(run_dir)
    acked = {bytes(k) for k in events["key"][ok]}
    messages = broker.read_topic(topic, expect=len(acked))
    in_topic = [correlation_key(dict(zip(m["headers"][::2], m["headers"][1::2], strict=True))["ce_id"])
                for m in messages]
    assert acked <= set(in_topic), "an acknowledged event is missing from the topic"
    assert len(in_topic) == len(set(in_topic)), "the idempotent producer wrote an event twice"
    assert {bytes(k) for k in read_offsets(run_dir)["key"]} == acked
    # the outage shows: some events waited for the broker far longer than the others
    ack_ms = (events["ack_ns"][ok] - events["intended_ns"][ok]) / 1e6
    assert ack_ms.max() > 1000


def test_broker_gone_for_good_fails_events_with_the_delivery_timeout(
    own_kafka_broker: OwnBroker, tmp_path: Path
) -> None:
    from tests.support.kafka_broker import Broker

    broker = Broker(own_kafka_broker.bootstrap)
    topic = broker.create_topic(partitions=1, prefix="gone")
    run_dir = tmp_path / "run"
    sender = subprocess.Popen(
        [sys.executable, "-m", "evtool", "simulate", "--target", f"kafka://{broker.bootstrap}/{topic}",
         "--rate", "50/s", "--duration", "4s", "--mix", "order=1", "--timeout", "2s", "--grace", "10s",
         "--run-dir", str(run_dir), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "events-0.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        own_kafka_broker.stop()
        _out, err = sender.communicate(timeout=120)
    finally:
        if sender.poll() is None:
            sender.kill()
    assert sender.returncode == 0, err
    events = read_run(run_dir).events
    status = events["status"]
    assert len(events) == 200
    failed = events[status == Status.FAILED]
    assert len(failed) > 50, "the events after the broker went away fail"
    assert ((status == Status.OK) | (status == Status.FAILED)).all()
    timed_out = failed["reason"] == Reason.TIMEOUT
    assert timed_out.mean() > 0.9, failure_details(run_dir)
    assert any(text.startswith("_MSG_TIMED_OUT: ") for text in failure_details(run_dir))
    assert (status == Status.OK).sum() > 0
