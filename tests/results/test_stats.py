"""Joining, classifying and merging: counts add up and nothing is lost silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from runfixtures import MS, T0, Ev, write_run

from evtool.results.report import build_document
from evtool.results.runlog import Reason, Status, read_run
from evtool.results.slo import parse_slos
from evtool.results.stats import ACK, E2E, LAG, SERVICE, baseline_deltas, compute_stats


def _stats(*dirs: Path, **kwargs: int):  # type: ignore[no-untyped-def]
    return compute_stats([read_run(d) for d in dirs], list(dirs), **kwargs)


def test_join_first_result_wins_duplicates_unmatched_and_lost(tmp_path: Path) -> None:
    events = [
        Ev("a", 0, result_ms=[300, 350, 900]),  # two duplicates; first (300) counts
        Ev("b", 100, result_ms=[600]),
        Ev("c", 200),  # no result: lost
        Ev("d", 300, result_ms=[300 + 11_000]),  # result after the 10 s timeout: lost (late)
        Ev("e", 400, status=Status.FAILED, reason=Reason.HTTP_STATUS),
        Ev("f", 500, status=Status.DROPPED, reason=Reason.MAX_IN_FLIGHT),
    ]
    run = write_run(tmp_path / "r", events, extra_results=[("nobody", 50), ("nobody", 60)])
    stats = _stats(run)
    c = stats.counts
    assert (c.scheduled, c.ok, c.failed, c.dropped, c.lost) == (6, 2, 1, 1, 2)
    assert c.ok + c.failed + c.dropped + c.lost == c.scheduled
    assert c.late_results == 1
    assert c.results == 7  # a x3, b, d, nobody x2
    assert c.duplicate_results == 2
    assert c.unmatched_results == 2
    assert c.matched_results == 5
    e2e = stats.distributions[E2E]
    assert e2e.count == 2
    # the two lost events rank above every measured latency (censored at the 10 s timeout)
    assert e2e.censored_count == 2
    assert e2e.percentiles_ms["p50"] == pytest.approx(500, rel=1e-3)  # rank 2 of 4: the slower measured
    assert e2e.censored == ("p90", "p95", "p99", "p99.9", "max")
    assert e2e.percentiles_ms["max"] == e2e.lower_bound_ms == 10_000
    assert stats.reasons == {"dropped:MAX_IN_FLIGHT": 1, "failed:HTTP_STATUS": 1, "http:503": 1}
    assert stats.end_to_end_source == "result"


def test_latencies_are_measured_from_intended_time(tmp_path: Path) -> None:
    # sent 1 s late (the sender fell behind), served in 20 ms, result 100 ms after sending
    run = write_run(tmp_path / "r", [Ev(str(i), i * 10, sent_ms=i * 10 + 1000, ack_ms=i * 10 + 1020,
                                        result_ms=[i * 10 + 1100]) for i in range(50)])
    stats = _stats(run)
    assert stats.distributions[E2E].percentiles_ms["p50"] == pytest.approx(1100, rel=2e-3)
    assert stats.distributions[ACK].percentiles_ms["p50"] == pytest.approx(1020, rel=2e-3)
    assert stats.distributions[SERVICE].percentiles_ms["p50"] == pytest.approx(20, rel=2e-3)
    assert stats.distributions[LAG].percentiles_ms["p50"] == pytest.approx(1000, rel=2e-3)


def test_without_collector_end_to_end_is_ack_latency(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Ev(str(i), i, ack_ms=i + 40) for i in range(10)], collector=False)
    stats = _stats(run)
    assert stats.end_to_end_source == "ack"
    assert stats.counts.lost == 0
    assert stats.distributions[E2E].percentiles_ms["p50"] == pytest.approx(40, rel=2e-3)
    assert any("no collector" in note for note in stats.notes)


def test_result_timeout_override(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Ev("a", 0, result_ms=[3000]), Ev("b", 0, result_ms=[500])])
    assert _stats(run).counts.lost == 0
    assert _stats(run, result_timeout_ns=1000 * MS).counts.lost == 1


def test_within_target_counts_only_ok_in_time(tmp_path: Path) -> None:
    events = [Ev(str(i), i, result_ms=[i + (2500 if i < 3 else 100)]) for i in range(10)]
    events.append(Ev("x", 0, status=Status.FAILED))
    stats = _stats(write_run(tmp_path / "r", events))
    assert stats.counts.within_target == 7
    assert stats.within_target_share == pytest.approx(7 / 11)


def test_per_type_version_and_windows(tmp_path: Path) -> None:
    events = [Ev(f"o{i}", i * 100, result_ms=[i * 100 + 200], event_type="order", version=1 + i % 2)
              for i in range(100)]  # 10 s of orders, v1 and v2
    events += [Ev(f"c{i}", 5000 + i * 10, event_type="complaint") for i in range(20)]  # lost, mid-run
    stats = _stats(write_run(tmp_path / "r", events), window_ns=2_000 * MS)
    groups = {(g.event_type, g.schema_version): g for g in stats.by_type}
    assert set(groups) == {("order", 1), ("order", 2), ("complaint", 1)}
    assert groups[("order", 1)].counts.scheduled == 50
    assert groups[("complaint", 1)].counts.lost == 20
    assert groups[("order", 2)].end_to_end.percentiles_ms["p50"] == pytest.approx(200, rel=2e-3)
    assert [w.scheduled for w in stats.windows] == [20, 20, 40, 20, 20]
    assert [w.lost for w in stats.windows] == [0, 0, 20, 0, 0]
    assert all(w.start_ns % (2_000 * MS) == 0 for w in stats.windows)


def test_many_windows_are_widened_and_said(tmp_path: Path) -> None:
    stats = _stats(write_run(tmp_path / "r", [Ev(str(i), i * 1000, result_ms=[i * 1000 + 5])
                                             for i in range(700)]), window_ns=1000 * MS)
    assert len(stats.windows) <= 300
    assert any("widened" in note for note in stats.notes)


def test_two_run_dirs_merge_like_one_run_with_both(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    first = [Ev(f"a{i}", i, result_ms=[i + float(rng.uniform(100, 400))]) for i in range(300)]
    second = [Ev(f"b{i}", i, result_ms=[i + float(rng.uniform(50, 900))], event_type="alert")
              for i in range(200)]
    second.append(Ev("b-lost", 10))
    a = write_run(tmp_path / "a", first)
    b = write_run(tmp_path / "b", second)
    both = tmp_path / "both"
    write_run(both, first)
    write_run(both, second, shard=1)
    slos = parse_slos(None)
    merged = build_document(_stats(a, b), slos)
    single = build_document(_stats(both), slos)
    for key in ("counts", "latency_ms", "by_type", "windows", "distribution", "hdr_histograms", "verdict"):
        assert merged[key] == single[key], key


def test_results_in_a_collect_only_run_dir_join_events_of_another(tmp_path: Path) -> None:
    sender = write_run(tmp_path / "send", [Ev("k1", 0), Ev("k2", 10)])
    collected = write_run(tmp_path / "collect", [], extra_results=[("k1", 250), ("k2", 400)])
    stats = _stats(sender, collected)
    assert stats.counts.lost == 0
    assert stats.distributions[E2E].percentiles_ms["max"] == pytest.approx(390, rel=2e-3)


def test_damaged_records_are_skipped_and_said(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Ev(str(i), i, result_ms=[i + 100]) for i in range(5)])
    shard = run / "events-0.bin"
    data = bytearray(shard.read_bytes())
    data[56 * 2 + 44] = 99  # status byte of the third record
    shard.write_bytes(bytes(data) + b"\x01\x02\x03")  # and a torn tail
    stats = _stats(run)
    assert stats.counts.scheduled == 4
    assert stats.runs[0].skipped_records == 1
    assert stats.runs[0].skipped_bytes == 3
    # a run that ended cleanly has no business holding either: it cannot stand behind its numbers
    assert any("3 bytes after the last whole record" in reason for reason in stats.incomplete)
    assert any("1 damaged records (56 bytes) between record 2 and 2" in reason for reason in stats.incomplete)


def test_clock_skew_gives_zero_not_negative(tmp_path: Path) -> None:
    stats = _stats(write_run(tmp_path / "r", [Ev("a", 100, result_ms=[50])]))
    assert stats.distributions[E2E].percentiles_ms["max"] == 0
    assert any("before their event's intended time" in note for note in stats.notes)


def test_baseline_deltas_per_percentile(tmp_path: Path) -> None:
    old = write_run(tmp_path / "old", [Ev(str(i), 0, result_ms=[100 + i]) for i in range(100)])
    new = write_run(tmp_path / "new", [Ev(str(i), 0, result_ms=[200 + 2 * i]) for i in range(100)])
    deltas = baseline_deltas(_stats(new), _stats(old))
    assert deltas["p50"]["baseline_ms"] == pytest.approx(149, abs=0.2)  # 50th of 100..199
    assert deltas["p50"]["current_ms"] == pytest.approx(298, abs=0.3)
    assert deltas["p50"]["delta_ms"] == pytest.approx(149, abs=0.5)
    assert deltas["p50"]["ratio"] == pytest.approx(2, rel=1e-2)
    assert deltas["max"]["delta_ms"] > 0


def test_large_random_join_matches_a_dict_join(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 3000
    events = []
    expected_lost = 0
    for i in range(n):
        roll = rng.random()
        results = [] if roll < 0.05 else sorted(float(x) for x in rng.uniform(10, 500, 1 + (roll > 0.9)))
        expected_lost += not results
        events.append(Ev(f"id-{i}", float(i), result_ms=[i + r for r in results]))
    stats = _stats(write_run(tmp_path / "r", events))
    assert stats.counts.lost == expected_lost
    # lost events rank above every result (censored): the percentiles are over all acknowledged events
    expected = sorted(ev.result_ms[0] - ev.intended_ms if ev.result_ms else float("inf") for ev in events)
    p90 = expected[int(0.90 * len(expected) + 0.5) - 1]
    assert stats.distributions[E2E].percentiles_ms["p90"] == pytest.approx(p90, rel=2e-3)
    assert expected[int(0.99 * len(expected) + 0.5) - 1] == float("inf")
    assert "p99" in stats.distributions[E2E].censored
    assert T0 > 0
