"""A remote collector's clock in the report: per-run shifts onto it, the bound rule, merged segments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runfixtures import MS, Ev, write_run

from evtool.results.clock_offset import ClockSample, clock_problems, combine, is_loopback, shift_ns
from evtool.results.report import build_document, load_stats
from evtool.results.runlog import RunMeta
from evtool.results.slo import parse_slos

DELAY_MS = 300  # what the system under test takes, on one true clock


def _remote(offset_ms: float, bound_ms: float, *, same_host: bool = False) -> dict[str, Any]:
    sample = {"offset_ns": int(offset_ms * MS), "rtt_ns": int(2 * bound_ms * MS), "at_ns": 0, "samples": 8}
    return {"kind": "remote", "collector": "10.0.0.5:9000", "offset_ns": int(offset_ms * MS),
            "bound_ns": int(bound_ms * MS), "samples": 8, "start": sample, "same_host": same_host}


def _sender(path: Path, keys: range, offset_ms: float, clock: dict[str, Any] | None) -> Path:
    """A sender's run whose clock is `offset_ms` behind the collector's; results are elsewhere."""
    write_run(path, [Ev(f"k{i}", i * 10.0) for i in keys], collector=False, host=path.name)
    meta = RunMeta.read(path)
    meta.collector_clock = clock
    meta.write(path)
    return path


def _collector(path: Path, senders: list[tuple[range, float]]) -> Path:
    """The collector's run: each sender's results on the collector's clock (+ that sender's offset)."""
    results = [(f"k{i}", i * 10.0 + DELAY_MS + offset) for keys, offset in senders for i in keys]
    return write_run(path, [], collector=True, extra_results=results, host="collector-host")


def _doc(runs: list[Path], slo: list[str] | None = None) -> dict[str, Any]:
    stats = load_stats(runs, target_ns=2000 * MS, window_ns=1000 * MS)
    return build_document(stats, parse_slos(slo) if slo else None)


def test_each_segment_is_moved_onto_the_collector_clock_by_its_own_offset(tmp_path: Path) -> None:
    a = _sender(tmp_path / "a", range(0, 50), 250, _remote(250, 1))
    b = _sender(tmp_path / "b", range(50, 100), -120, _remote(-120, 2))
    collector = _collector(tmp_path / "c", [(range(0, 50), 250), (range(50, 100), -120)])
    doc = _doc([a, b, collector])
    e2e = doc["latency_ms"]["end_to_end"]
    assert doc["verdict"] == "PASS", doc["not_measurable"]
    assert e2e["count"] == 100
    assert e2e["p50"] == pytest.approx(DELAY_MS, abs=1)  # both segments corrected, each by its own
    assert e2e["max"] == pytest.approx(DELAY_MS, abs=1)
    assert [entry["offset_ms"] for entry in doc["clocks"]["runs"]] == [250, -120]


def test_without_the_offsets_the_same_records_carry_the_skew(tmp_path: Path) -> None:
    a = _sender(tmp_path / "a", range(0, 50), 250, None)
    b = _sender(tmp_path / "b", range(50, 100), -120, None)
    collector = _collector(tmp_path / "c", [(range(0, 50), 250), (range(50, 100), -120)])
    e2e = _doc([a, b, collector])["latency_ms"]["end_to_end"]
    assert e2e["max"] == pytest.approx(DELAY_MS + 250, abs=1)
    assert e2e["p50"] == pytest.approx(DELAY_MS - 120, abs=1)


def test_one_segment_with_a_large_bound_makes_the_merge_not_measurable(tmp_path: Path) -> None:
    a = _sender(tmp_path / "a", range(0, 50), 250, _remote(250, 1))
    b = _sender(tmp_path / "b", range(50, 100), 0, _remote(0, 25))  # 25 ms > 1 % of 2 s
    collector = _collector(tmp_path / "c", [(range(0, 50), 250), (range(50, 100), 0)])
    doc = _doc([a, b, collector])
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert doc["exit_code"] == 1
    assert len(doc["not_measurable"]) == 1
    assert doc["not_measurable"][0].startswith(f"{b}: the clock offset to collector 10.0.0.5:9000 is known "
                                               "only to ±25.0 ms")


def test_a_tighter_objective_tightens_the_bound_it_tolerates(tmp_path: Path) -> None:
    a = _sender(tmp_path / "a", range(0, 50), 0, _remote(0, 5))  # 5 ms: fine for 2 s, not for 400 ms
    collector = _collector(tmp_path / "c", [(range(0, 50), 0)])
    assert _doc([a, collector])["verdict"] == "PASS"
    doc = _doc([a, collector], ["p99<=400ms"])
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert "1% of the 400 ms latency judged" in doc["not_measurable"][0]
    assert doc["clocks"]["max_bound_ms"] == 4


def test_an_unknown_offset_is_not_measurable_on_another_host_only(tmp_path: Path) -> None:
    unknown = {"kind": "remote", "collector": "10.0.0.5:9000", "samples": 1, "same_host": False,
               "error": "GET /evtool/clock answered HTTP 405: an older collector?"}
    a = _sender(tmp_path / "a", range(0, 50), 0, unknown)
    collector = _collector(tmp_path / "c", [(range(0, 50), 0)])
    doc = _doc([a, collector])
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert "is unknown (GET /evtool/clock answered HTTP 405" in doc["not_measurable"][0]
    meta = RunMeta.read(a)
    meta.collector_clock = {**unknown, "collector": "127.0.0.1:9000", "same_host": True}
    meta.write(a)
    assert _doc([a, collector])["verdict"] == "PASS"


def test_local_clock_runs_are_not_shifted_nor_judged() -> None:
    assert shift_ns({"kind": "local", "offset_ns": 0, "bound_ns": 0}) == 0
    assert shift_ns(None) == 0
    assert shift_ns({"kind": "remote", "offset_ns": None}) == 0
    assert shift_ns(_remote(12.5, 1)) == 12_500_000
    assert clock_problems([("r", {"kind": "local"}), ("s", None)], 2000 * MS, results=True) == []


def test_both_ends_give_the_hull_of_their_intervals() -> None:
    start = ClockSample(offset_ns=100 * MS, rtt_ns=2 * MS, at_ns=0, samples=8)  # [99, 101] ms
    end = ClockSample(offset_ns=104 * MS, rtt_ns=4 * MS, at_ns=60_000 * MS, samples=8)  # [102, 106] ms
    clock = combine("h:1", start, end, same_host=False)
    assert clock.offset_ns == int(102.5 * MS)  # the middle of [99, 106]
    assert clock.bound_ns == int(3.5 * MS)  # covers both ends, so the drift between them
    assert clock.drift_ns == 4 * MS
    assert clock.samples == 16
    only = combine("h:1", start, None, same_host=False)
    assert (only.offset_ns, only.bound_ns, only.drift_ns) == (100 * MS, 1 * MS, None)
    assert "drift not measured" in only.describe()
    assert combine("h:1", None, None, same_host=True, error="HTTP 405").offset_ns is None


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                                ("[::1]", True), ("localhost", True), ("10.0.0.5", False),
                                                ("collector.example", False)])
def test_loopback_hosts_are_this_host(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
