"""The merge check of segments: one scenario, one sequence, every part exactly once."""

from __future__ import annotations

from pathlib import Path

from evtool.results.runlog import RunMeta
from evtool.results.segments import segment_problems


def meta(segment: str | None, sequence: str | None = None, scenario: str = "s1") -> RunMeta:
    return RunMeta(run_id="r", command=[], options={}, tool_version="t", target="-", clock_origin_ns=0,
                   started_at="", segment=segment, segment_sequence=sequence, scenario_hash=scenario)


def problems(*metas: RunMeta) -> list[str]:
    return segment_problems(list(metas), [Path(f"run-{i}") for i in range(len(metas))])


QUARTERS = "0,1/4,1/2,1"


def test_every_part_of_an_unequal_sequence_once_is_the_whole_scenario() -> None:
    assert problems(meta("0:1/4", QUARTERS), meta("1/4:1/2", QUARTERS), meta("1/2:1", QUARTERS)) == []
    assert problems(meta("1/3:1", "0,1/3,1"), meta("0:1/3", "0,1/3,1")) == []


def test_a_missing_part_is_named_with_its_sequence() -> None:
    found = problems(meta("0:1/4", QUARTERS), meta("1/2:1", QUARTERS))
    assert found == ["segment(s) 1/4:1/2 missing: the merged run is not the whole schedule "
                     "(sequence 0,1/4,1/2,1)"]


def test_a_part_twice_is_an_overlap() -> None:
    found = problems(meta("0:1/4", QUARTERS), meta("0:1/4", QUARTERS), meta("1/4:1/2", QUARTERS),
                     meta("1/2:1", QUARTERS))
    assert found == ["segment 0:1/4 given twice: run-0 and run-1"]


def test_segments_of_different_sequences_do_not_add_up() -> None:
    found = problems(meta("0:1/4", QUARTERS), meta("1/3:1", "0,1/3,1"))
    assert "the segments split the scenario differently: sequence 0,1/4,1/2,1 (run-0); " \
        "sequence 0,1/3,1 (run-1)" in found
    assert any("1/4:1/2" in f and "missing" in f for f in found)


def test_i_of_n_is_the_equal_sequence_in_old_and_new_meta() -> None:
    # a run written before the sequence was recorded, one with it, and the same part as A:B: one split
    assert problems(meta("0/3"), meta("1/3", "0,1/3,2/3,1"), meta("2/3:1", "0,1/3,2/3,1")) == []
    assert problems(meta("0/3"), meta("2/3")) == [
        "segment(s) 1/3 missing: the merged run is not the whole schedule"]
    assert problems(meta("0/2"), meta("1/2:1", "0,1/2,1"), meta("1/2", "0,1/2,1")) == [
        "segment 1/2 given twice: run-1 and run-2"]


def test_a_segment_outside_its_sequence_or_unreadable_is_named() -> None:
    assert problems(meta("0:1/2", QUARTERS), meta("1/4:1/2", QUARTERS), meta("1/2:1", QUARTERS)) == [
        "run-0: segment 0:1/2 is not a part of sequence 0,1/4,1/2,1",
        "segment(s) 0:1/4 missing: the merged run is not the whole schedule (sequence 0,1/4,1/2,1)",
    ]
    found = problems(meta("a:b", QUARTERS))
    assert found[0].startswith("run-0: segment 'a:b' (sequence '0,1/4,1/2,1') cannot be read")


def test_other_scenarios_and_plain_runs_are_still_findings() -> None:
    found = problems(meta("0:1/3", "0,1/3,1"), meta("1/3:1", "0,1/3,1", scenario="s2"), meta(None))
    assert found[0] == "run-2: not a segment, merged with segments of a scenario"
    assert found[1].startswith("the segments are of different scenarios")
    assert problems(meta(None), meta(None)) == []
