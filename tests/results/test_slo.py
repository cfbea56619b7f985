"""`--slo` parsing and the three-valued verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from runfixtures import Ev, write_run

from evtool.errors import UsageError
from evtool.results.runlog import Reason, Status, read_run
from evtool.results.slo import Verdict, evaluate, parse_slo, parse_slos
from evtool.results.stats import compute_stats
from evtool.units import parse_duration_ns


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p99<=2s", "percentile", "<=", 2e9),
        ("p95 <= 500ms", "percentile", "<=", 5e8),
        ("p99.9<1.5s", "percentile", "<", 1.5e9),
        ("max<=3s", "percentile", "<=", 3e9),
        ("within(2s)>=99.5%", "within", ">=", 0.995),
        ("lost<=0", "lost", "<=", 0),
        ("lost<=0.1%", "lost", "<=", 0.001),
        ("failed<=1%", "failed", "<=", 0.01),
        ("dropped<5", "dropped", "<", 5),
    ],
)
def test_forms(text: str, metric: str, op: str, limit: float) -> None:
    slo = parse_slo(text)
    assert (slo.metric, slo.op) == (metric, op)
    assert slo.limit == pytest.approx(limit)


@pytest.mark.parametrize(
    "text", ["p99", "p99<=2", "p101<=2s", "latency<2s", "within(2s)>=120%", "lost<=x", ""]
)
def test_bad_expressions_name_themselves_and_the_forms(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_slo(text)
    assert repr(text) in str(info.value)
    assert "within(" in str(info.value)


def test_defaults_and_durations() -> None:
    assert [s.text for s in parse_slos(None)] == ["within(2s)>=100%", "p99<=2s", "lost<=0"]
    assert [s.text for s in parse_slos(None, 500_000_000)] == ["within(500ms)>=100%", "p99<=500ms", "lost<=0"]
    assert parse_slos(None, 1_500_000_000)[0].text == "within(1500ms)>=100%"
    assert parse_duration_ns("250us") == 250_000
    assert parse_duration_ns("1.5s") == 1_500_000_000
    with pytest.raises(UsageError):
        parse_duration_ns("2 hours")


def _verdict(tmp_path: Path, events: list[Ev], slos: list[str]) -> tuple[Verdict, list[bool | None]]:
    run = write_run(tmp_path / "r", events)
    report = evaluate(parse_slos(slos), compute_stats([read_run(run)], [run]))
    return report.verdict, [r.passed for r in report.results]


def test_pass_and_fail(tmp_path: Path) -> None:
    fast = [Ev(str(i), i, result_ms=[i + 100 + i]) for i in range(100)]  # e2e 100..199 ms
    verdict, passed = _verdict(tmp_path, fast, ["p99<=2s", "lost<=0", "p50<=120ms"])
    assert (verdict, passed) == (Verdict.FAIL, [True, True, False])
    verdict, passed = _verdict(tmp_path / "b", fast, ["p99<=200ms", "within(150ms)>=40%", "failed<=1%"])
    assert (verdict, passed) == (Verdict.PASS, [True, True, True])


def test_lost_events_fail_the_default(tmp_path: Path) -> None:
    events = [Ev(str(i), i, result_ms=[i + 100]) for i in range(99)] + [Ev("gone", 5)]
    # within(2s)>=100% misses the lost one; p99 (rank 99 of 100) is still measured; lost<=0 fails
    assert _verdict(tmp_path, events, []) == (Verdict.FAIL, [False, True, False])


def test_sender_behind_schedule_is_not_measurable(tmp_path: Path) -> None:
    events = [Ev(str(i), i, sent_ms=i + 500, ack_ms=i + 510, result_ms=[i + 600]) for i in range(100)]
    assert _verdict(tmp_path, events, ["p99<=2s"])[0] is Verdict.NOT_MEASURABLE


def test_many_in_flight_drops_are_not_measurable(tmp_path: Path) -> None:
    events = [Ev(str(i), i, result_ms=[i + 100]) for i in range(90)]
    events += [Ev(f"d{i}", i, status=Status.DROPPED, reason=Reason.MAX_IN_FLIGHT) for i in range(10)]
    assert _verdict(tmp_path, events, ["p99<=2s"])[0] is Verdict.NOT_MEASURABLE


def test_nothing_measured_is_not_measurable(tmp_path: Path) -> None:
    events = [Ev(str(i), i, status=Status.FAILED, reason=Reason.CONNECT) for i in range(5)]
    assert _verdict(tmp_path, events, ["p99<=2s"]) == (Verdict.NOT_MEASURABLE, [None])
