"""Segments of one schedule: disjoint, complete, each smooth, and each the shards a single
process with N workers would have run."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from evtool.errors import UsageError
from evtool.load.arrivals import Stage
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.segment import Segment, SegmentedPlan, parse_start_at, scenario_hash, segment_seed
from evtool.load.source import GeneratedEvents

SPECS = {
    "constant": ArrivalSpec("constant", rate=900.0, count=900),
    "poisson": ArrivalSpec("poisson", rate=900.0, count=900, seed=7),
    "stages": ArrivalSpec("stages", stages=(Stage(0.5, 300.0), Stage(0.5, 900.0)), count=500),
}


def offsets(plan: GeneratedPlan | SegmentedPlan, shard: int = 0, workers: int = 1) -> list[int]:
    return [offset for offset, _ in plan(shard, workers)]


@pytest.mark.parametrize("kind", SPECS)
@pytest.mark.parametrize("count", [1, 3, 4])
def test_the_segments_are_the_whole_schedule_exactly_once(kind: str, count: int) -> None:
    whole = GeneratedPlan(SPECS[kind], GeneratedEvents(seed=3))
    everything = offsets(whole)
    parts = [offsets(SegmentedPlan(whole, Segment.of(i, count))) for i in range(count)]
    assert sorted(o for part in parts for o in part) == everything
    assert sum(len(p) for p in parts) == len(everything)  # disjoint: nothing twice
    for index, part in enumerate(parts):  # interleaved: segment i has every count-th arrival from i on
        assert part == everything[index::count]


def test_a_constant_segment_is_as_smooth_as_the_whole() -> None:
    whole = GeneratedPlan(SPECS["constant"], GeneratedEvents(seed=3))
    gaps = np.diff(offsets(SegmentedPlan(whole, Segment.of(1, 3))))
    assert gaps.std() / gaps.mean() < 0.01  # every 3rd of a constant process: constant at a third of the rate


def test_a_segment_with_workers_is_the_shards_of_one_process_with_n_times_the_workers() -> None:
    whole = GeneratedPlan(SPECS["poisson"], GeneratedEvents(seed=3))
    segment = SegmentedPlan(whole, Segment.of(2, 3))
    for worker in range(2):
        mine = list(segment(worker, 2))
        reference = list(whole(2 + 3 * worker, 6))
        assert [o for o, _ in mine] == [o for o, _ in reference]
        assert [e.event.data for _, e in mine] == [e.event.data for _, e in reference]  # the same events
        assert [e.event.type for _, e in mine] == [e.event.type for _, e in reference]


def test_one_entitys_events_stay_on_one_segment() -> None:
    flow = GeneratedPlan(
        ArrivalSpec("constant", rate=1000.0, count=300), GeneratedEvents(flow="order-lifecycle", seed=5)
    )
    chains: dict[str, set[int]] = {}
    for index in range(3):
        for _, out in SegmentedPlan(flow, Segment.of(index, 3))(0, 1):
            chain = out.event.extensions.get("correlationid")
            if chain:
                chains.setdefault(chain, set()).add(index)
    assert chains
    assert all(len(segments) == 1 for segments in chains.values())


def test_segment_parsing_names_what_is_wrong() -> None:
    assert Segment.parse("2/4") == Segment.of(2, 4)
    for bad in ("4/4", "1", "a/b", "0/0", "-1/3"):
        with pytest.raises(UsageError, match="--segment"):
            Segment.parse(bad)


def test_start_at_takes_an_instant_with_a_zone_or_an_offset() -> None:
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    assert parse_start_at("+30s", now=now) == int((now.timestamp() + 30) * 1e9)
    assert parse_start_at("2026-12-01T10:00:05Z") == int((now.timestamp() + 5) * 1e9)
    with pytest.raises(UsageError, match="time zone"):
        parse_start_at("2026-12-01T10:00:05")
    with pytest.raises(UsageError, match="--start-at"):
        parse_start_at("soon")


def test_the_scenario_hash_ignores_how_a_segment_records_and_not_what_it_sends() -> None:
    base = {"rate": "500/s", "duration": "10s", "seed": 1, "workers": 1}
    assert scenario_hash({**base, "run_dir": "a", "segment": "0/3"}, "http://x") == scenario_hash(
        base, "http://x"
    )
    assert scenario_hash({**base, "rate": "600/s"}, "http://x") != scenario_hash(base, "http://x")
    assert scenario_hash(base, "http://y") != scenario_hash(base, "http://x")
    assert segment_seed(base, "http://x") == segment_seed({**base, "seed": 99}, "http://x")

