"""The Kafka reference consumer crashed mid-run and restarted, on the real broker: at-least-once
repeats decisions and loses none; exactly-once (transactions, read_committed) neither repeats nor loses.

Each test: consumer A (`--crash-every`, so it ends by `os._exit` after producing decisions it has
not committed) while `evtool simulate` writes events; then consumer B of the same group and
instance continues from the committed offsets until every event has a decision.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from tests.support.cli import finish, run_evtool, spawn
from tests.support.kafka_broker import Broker, kafka_broker
from tests.support.kafka_consumer import count_by_header, start_consumer

from evtool.consumer.kafka import CRASH_EXIT

__all__ = ["kafka_broker"]

EVENTS = 600
CRASH_AFTER = 200


def _crash_and_resume(broker: Broker, semantics: str) -> tuple[set[str], str, str]:
    """Events sent, and the two consumers' outputs; the decisions are on the `decisions` topic returned."""
    orders, decisions = broker.create_topic(3, "orders"), broker.create_topic(3, "decisions")
    group = f"sem-{time.monotonic_ns()}"
    common = ("--group", group, "--semantics", semantics, "--workers", "16", "--service-time", "10ms")
    first = start_consumer(broker.bootstrap, orders, decisions, *common, "--crash-every", str(CRASH_AFTER))
    sender = spawn(["simulate", "-t", f"kafka://{broker.bootstrap}/{orders}", "--rate", "300/s",
                    "--count", str(EVENTS), "--seed", "7", "-q"])
    assert first.wait(60) == int(CRASH_EXIT), first.output
    second = start_consumer(broker.bootstrap, orders, decisions, *common)
    code, out, err = finish(sender, 60)
    assert code == 0, out + err
    events = count_by_header(broker.bootstrap, orders, "ce_id")
    assert sum(events.values()) == EVENTS
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until every event has a committed decision
        if set(count_by_header(broker.bootstrap, decisions, "ce_correlationid")) >= set(events):
            break
        time.sleep(0.5)
    assert second.stop() == 0, second.output
    return set(events), decisions, first.output + second.output


def test_at_least_once_crash_repeats_decisions_and_loses_none(kafka_broker: Broker) -> None:
    events, decisions, output = _crash_and_resume(kafka_broker, "at-least-once")
    counts = count_by_header(kafka_broker.bootstrap, decisions, "ce_correlationid")
    assert set(counts) == events, f"lost: {len(events - set(counts))}\n{output}"
    repeated = {e: n for e, n in counts.items() if n > 1}
    # the crash came after decisions the broker acked but whose offsets were not committed
    assert repeated, output
    assert sum(counts.values()) == EVENTS + sum(n - 1 for n in repeated.values())


def test_exactly_once_crash_repeats_nothing_and_loses_nothing(kafka_broker: Broker) -> None:
    events, decisions, output = _crash_and_resume(kafka_broker, "exactly-once")
    counts = count_by_header(kafka_broker.bootstrap, decisions, "ce_correlationid")
    assert set(counts) == events, f"lost: {len(events - set(counts))}\n{output}"
    assert max(counts.values()) == 1, {e: n for e, n in counts.items() if n > 1}
    # the crashed transaction's decisions did reach the log (a reader that ignores transactions sees
    # them twice), so it is read_committed and the abort that keep them out, not a crash too early
    uncommitted = count_by_header(kafka_broker.bootstrap, decisions, "ce_correlationid", committed=False)
    assert sum(uncommitted.values()) > EVENTS, output


@pytest.mark.parametrize("semantics", ["twice", ""])
def test_unknown_semantics_is_a_usage_error(kafka_broker: Broker, semantics: str) -> None:
    ran = run_evtool("consumer", "serve", "--source", f"kafka://{kafka_broker.bootstrap}/a",
                     "--sink", f"kafka://{kafka_broker.bootstrap}/b", "--semantics", semantics)
    assert ran.code == 2
    assert "--semantics" in ran.stderr
    assert "exactly-once" in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize(("semantics", "duplicates"), [("at-least-once", True), ("exactly-once", False)])
def test_a_crash_mid_run_as_the_run_report_counts_it(kafka_broker: Broker, tmp_path: Path, semantics: str,
                                                     duplicates: bool) -> None:
    """The run's own results (`--collect kafka://decisions`, read_committed) across the crash and the
    restart: duplicates only at-least-once, lost never."""
    orders, decisions = kafka_broker.create_topic(3, "orders"), kafka_broker.create_topic(3, "decisions")
    common = ("--group", f"run-{time.monotonic_ns()}", "--semantics", semantics, "--workers", "16",
              "--service-time", "10ms")
    crash = ("--crash-every", str(CRASH_AFTER))
    first = start_consumer(kafka_broker.bootstrap, orders, decisions, *common, *crash)
    run_dir = tmp_path / "run"
    sender = spawn(["simulate", "-t", f"kafka://{kafka_broker.bootstrap}/{orders}", "--rate", "150/s",
                    "--count", str(EVENTS), "--seed", "3", "--collect", f"kafka://{kafka_broker.bootstrap}/"
                    f"{decisions}", "--result-timeout", "30s", "--run-dir", str(run_dir), "-q"])
    assert first.wait(60) == int(CRASH_EXIT), first.output
    second = start_consumer(kafka_broker.bootstrap, orders, decisions, *common)
    try:
        code, out, err = finish(sender, 120)
    finally:
        second.stop()
    assert code == 0, out + err
    report = run_evtool("latency-report", run_dir, "--format", "json", timeout_s=60)
    counts = json.loads(report.stdout)["counts"]
    assert counts["scheduled"] == EVENTS
    assert counts["lost"] == 0, first.output + second.output
    assert counts["ok"] == EVENTS
    assert (counts["duplicate_results"] > 0) is duplicates, counts


def test_exactly_once_killed_by_a_signal_repeats_nothing(kafka_broker: Broker) -> None:
    """SIGKILL at a moment the consumer does not choose (decisions flowing, a transaction open or not)."""
    orders, decisions = kafka_broker.create_topic(3, "orders"), kafka_broker.create_topic(3, "decisions")
    common = ("--group", f"kill-{time.monotonic_ns()}", "--semantics", "exactly-once", "--workers", "16",
              "--service-time", "10ms", "--commit-interval", "300ms")
    first = start_consumer(kafka_broker.bootstrap, orders, decisions, *common)
    sender = spawn(["simulate", "-t", f"kafka://{kafka_broker.bootstrap}/{orders}", "--rate", "300/s",
                    "--count", str(EVENTS), "--seed", "9", "-q"])
    deadline = time.monotonic() + 30
    written = 0
    while written < 150:  # decisions flowing (committed or still in an open transaction)
        written = sum(count_by_header(kafka_broker.bootstrap, decisions, "ce_correlationid",
                                      committed=False).values())
        assert time.monotonic() < deadline, first.output
        time.sleep(0.1)
    first.process.send_signal(signal.SIGKILL)
    assert first.wait(30) == -signal.SIGKILL
    second = start_consumer(kafka_broker.bootstrap, orders, decisions, *common)
    code, out, err = finish(sender, 60)
    assert code == 0, out + err
    events = set(count_by_header(kafka_broker.bootstrap, orders, "ce_id"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if set(count_by_header(kafka_broker.bootstrap, decisions, "ce_correlationid")) >= events:
            break
        time.sleep(0.5)
    assert second.stop() == 0, second.output
    counts = count_by_header(kafka_broker.bootstrap, decisions, "ce_correlationid")
    assert set(counts) == events
    assert max(counts.values()) == 1
