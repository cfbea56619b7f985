"""The committable position of the Kafka consumer: one past the longest prefix of decided events."""

from __future__ import annotations

from tests.support.cli import invoke

from evtool.consumer.kafka import OffsetTracker


def test_a_gap_holds_the_position_until_it_is_filled() -> None:
    tracker = OffsetTracker()
    for offset in range(10, 15):
        tracker.received(0, offset)
    tracker.received(1, 3)
    for offset in (10, 11, 13, 14):  # 12 still in service
        tracker.done(0, offset)
    assert tracker.advance() == {0: 12}  # not 15: a crash now must decide 12 again
    tracker.committed({0: 12})
    assert tracker.advance() == {}  # nothing new to commit
    tracker.done(0, 12)
    tracker.done(1, 3)
    assert tracker.advance() == {0: 15, 1: 4}


def test_a_revoked_partition_is_forgotten() -> None:
    tracker = OffsetTracker()
    tracker.received(2, 0)
    tracker.done(2, 0)
    tracker.forget([2])
    assert tracker.advance() == {}


def test_crash_every_is_for_the_kafka_mode() -> None:
    outcome = invoke(["consumer", "serve", "--crash-every", "5", "--duration", "1s"])
    assert outcome.code == 2
    assert "--crash-every applies to the Kafka mode" in outcome.all_output
