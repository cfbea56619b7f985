"""A producer without idempotence through a broker stall: duplicates on the topic, and the audit finds
exactly the ones the test counts itself. The same stall with idempotence on (the default) leaves none."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.cli import finish, spawn, wait_for
from tests.support.delivery_faults import freeze, read_all
from tests.support.kafka_broker import Broker, OwnBroker, bootstrap_address, run_evtool

from evtool.results.runlog import OFFSET_DTYPE, Outcome, outcomes, read_run

pytestmark = pytest.mark.e2e


@pytest.fixture
def stalling_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    bootstrap_address()  # the same services as the shared broker (its jars)
    state = tmp_path / "kafka-state"
    own = OwnBroker(state)
    broker = own.up()
    try:
        yield broker, state
    finally:
        own.down()


def _run_through_a_stall(broker: Broker, state: Path, run_dir: Path, *properties: str) -> dict[str, Any]:
    topic = broker.create_topic(partitions=2, prefix="stall")
    x_options = [a for p in properties for a in ("-X", p)]
    process = spawn(["simulate", "--target", f"kafka://{broker.bootstrap}/{topic}", "--rate", "300/s",
                     "--duration", "8s", "--seed", "11", "--timeout", "30s", "--grace", "30s",
                     "-X", "socket.timeout.ms=500", "-X", "retry.backoff.ms=50", *x_options,
                     "--run-dir", str(run_dir), "-q"])
    wait_for(run_dir / "meta.json", process)
    time.sleep(2.0)
    freeze(state, 2.5)
    code, out, err = finish(process, timeout_s=120)
    assert code == 0, out + err
    ran = run_evtool("audit", run_dir, "--format", "json", "--expect-delivery", "at-least-once")
    assert ran.code in (0, 1), ran.stderr
    audit: dict[str, Any] = json.loads(ran.stdout)
    copies = Counter(m.event_id for m in read_all(broker.bootstrap, topic, 2))
    audit["_test_duplicates"] = sum(1 for n in copies.values() if n > 1)
    audit["_test_extra"] = sum(n - 1 for n in copies.values() if n > 1)
    return audit


def test_no_idempotence_and_a_broker_stall_duplicate_events(
        stalling_broker: tuple[Broker, Path], tmp_path: Path) -> None:
    broker, state = stalling_broker
    audit = _run_through_a_stall(broker, state, tmp_path / "run", "enable.idempotence=false",
                                 "max.in.flight.requests.per.connection=5")
    topic = audit["topic"]
    assert audit["_test_duplicates"] > 0, "the stall produced no retry duplicates"
    assert topic["duplicates"]["count"] == audit["_test_duplicates"]
    assert topic["extra_copies"] == audit["_test_extra"]
    assert topic["missing"]["count"] == 0
    assert audit["verdict"] == "PASS"  # at-least-once: nothing lost
    again = run_evtool("audit", tmp_path / "run", "--format", "json")  # exactly-once
    assert again.code == 1
    assert json.loads(again.stdout)["verdict"] == "FAIL"


def test_the_same_stall_with_idempotence_leaves_no_duplicate(
        stalling_broker: tuple[Broker, Path], tmp_path: Path) -> None:
    broker, state = stalling_broker
    audit = _run_through_a_stall(broker, state, tmp_path / "run")
    assert audit["_test_duplicates"] == 0
    assert audit["topic"]["duplicates"]["count"] == 0
    assert audit["topic"]["missing"]["count"] == 0
    assert run_evtool("audit", tmp_path / "run").code == 0


def test_events_acked_after_the_grace_abort_are_aborted_locally_but_on_the_topic(
        stalling_broker: tuple[Broker, Path], tmp_path: Path) -> None:
    """The broker stalls over the run's end: with a 1 s grace the events in flight are aborted in the
    run log, and the broker acknowledges them once it runs again (the Kafka target still flushes).
    Their offsets reach kafka-offsets-<i>.bin: the audit counts them acknowledged and aborted, finds
    them on the topic, and nothing is lost."""
    broker, state = stalling_broker
    topic = broker.create_topic(partitions=2, prefix="grace")
    run_dir = tmp_path / "run"
    process = spawn(["simulate", "--target", f"kafka://{broker.bootstrap}/{topic}", "--rate", "300/s",
                     "--duration", "3s", "--seed", "12", "--timeout", "30s", "--grace", "1s",
                     "--run-dir", str(run_dir), "-q"])
    wait_for(run_dir / "meta.json", process)
    time.sleep(2.5)
    freeze(state, 2.5)
    code, out, err = finish(process, timeout_s=120)
    assert code == 0, out + err
    log = read_run(run_dir)
    aborted = {bytes(k) for k in log.events["key"][outcomes(log.events["status"], log.events["reason"])
                                                   == Outcome.ABORTED]}
    raw = b"".join(p.read_bytes() for p in sorted(run_dir.glob("kafka-offsets-*.bin")))
    acked = {bytes(k) for k in np.frombuffer(raw, dtype=OFFSET_DTYPE)["key"]}
    assert aborted & acked, "no event was acknowledged after the grace abort"
    ran = run_evtool("audit", run_dir, "--format", "json")
    audit = json.loads(ran.stdout)
    assert audit["topic"]["acked_aborted"] == len(aborted & acked)
    assert audit["topic"]["acked"] == len(acked)
    assert audit["topic"]["missing"]["count"] == 0
    assert audit["topic"]["present"] >= len(acked)
    assert ran.code == 0, audit["reasons"]
