"""Segments of unequal size (`--segment A:B` in `--segment-sequence`): together exactly the one
schedule, each smooth, one entity on one instance, and bad input refused in one line."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from evtool.errors import UsageError
from evtool.load.arrivals import Stage
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.segment import MergedRun, Segment, SegmentedPlan, SegmentSequence
from evtool.load.source import GeneratedEvents
from evtool.results.runlog import SEQ_MASK, IdScheme

SPECS = {
    "constant": ArrivalSpec("constant", rate=1200.0, count=600),
    "poisson": ArrivalSpec("poisson", rate=1200.0, count=600, seed=7),
    "stages": ArrivalSpec("stages", stages=(Stage(0.4, 300.0), Stage(0.4, 1200.0)), count=400),
}
SEQUENCES = ["0,1/4,1/2,1", "0,1/3,1", "0,1/2,3/4,1"]
Sent = tuple[int, int, int, str, str]  # intended offset, global shard, sequence number, type, data


def sent(plan: object) -> list[Sent]:
    """What a plan sends, with the shard and number its structured id carries (not the run's nonce)."""
    out: list[Sent] = []
    for offset, event in plan:  # type: ignore[attr-defined]
        scheme = IdScheme.of_key(event.key)
        assert scheme is not None
        low = int.from_bytes(event.key[8:], "big")
        out.append((offset, scheme.prefix & 0xFFFF, low & SEQ_MASK, event.event.type,
                    json.dumps(event.event.data, sort_keys=True)))
    return out


def parts(sequence: str) -> list[Segment]:
    seq = SegmentSequence.parse(sequence)
    return [Segment.parse(f"{a}:{b}", sequence) for a, b in seq.parts]


@pytest.mark.parametrize("kind", SPECS)
@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("workers", [1, 2])
def test_the_parts_of_an_unequal_sequence_are_the_one_process_schedule_exactly(
    kind: str, sequence: str, workers: int
) -> None:
    whole = GeneratedPlan(SPECS[kind], GeneratedEvents(seed=3))
    lcd = SegmentSequence.parse(sequence).lcd
    # the one process: L×W workers, every shard
    reference = sorted(item for shard in range(lcd * workers) for item in sent(whole(shard, lcd * workers)))
    union: list[Sent] = []
    for segment in parts(sequence):
        for worker in range(workers):
            mine = sent(SegmentedPlan(whole, segment)(worker, workers))
            assert [o for o, *_ in mine] == sorted(o for o, *_ in mine)  # each worker's plan is in time order
            union += mine
    assert len(union) == len(reference)  # disjoint: nothing twice
    assert sorted(union) == reference  # the same times, the same events under the same shard and number
    assert sorted(o for o, *_ in union) == list(SPECS[kind].offsets())


@pytest.mark.parametrize("kind", ["constant", "poisson"])
def test_a_quarter_gets_every_fourth_arrival_and_a_half_every_second(kind: str) -> None:
    whole = GeneratedPlan(SPECS[kind], GeneratedEvents(seed=3))
    everything = list(SPECS[kind].offsets())
    quarter, second, half = (SegmentedPlan(whole, s) for s in parts("0,1/4,1/2,1"))
    stripes = SegmentSequence.parse("0,1/4,1/2,1").stripes()
    assert [o for o, _ in quarter(0, 1)] == everything[stripes[0][0]::4]  # every 4th, not the first quarter
    assert [o for o, _ in second(0, 1)] == everything[stripes[1][0]::4]
    assert [o for o, _ in half(0, 1)] == everything[0::2]  # stripes 0 and 2: every 2nd, not pairs


def test_an_unequal_part_of_a_constant_rate_is_constant() -> None:
    whole = GeneratedPlan(SPECS["constant"], GeneratedEvents(seed=3))
    for segment in parts("0,1/4,1/2,1"):
        gaps = np.diff([o for o, _ in SegmentedPlan(whole, segment)(0, 1)])
        assert gaps.std() / gaps.mean() < 0.01, segment
    # a third and two thirds: the two-thirds part alternates 1 and 2 gaps, as evenly as 2 of 3 can
    third, rest = parts("0,1/3,1")
    gaps = np.diff([o for o, _ in SegmentedPlan(whole, rest)(0, 1)])
    assert set(np.round(gaps / (1e9 / 1200)).astype(int).tolist()) == {1, 2}
    assert np.diff([o for o, _ in SegmentedPlan(whole, third)(0, 1)]).std() < 1.0


def test_stripes_are_spread_and_the_equal_sequence_is_segment_i_of_n() -> None:
    assert SegmentSequence.parse("0,1/2,3/4,1").stripes() == ((0, 2), (1,), (3,))  # k6's example
    assert SegmentSequence.parse("0,1/4,1/2,1").stripes() == ((1,), (3,), (0, 2))
    assert SegmentSequence.equal(5).stripes() == ((0,), (1,), (2,), (3,), (4,))
    for index in range(4):  # I/N is I/N:(I+1)/N of the equal sequence: global shard I + N·k, as before
        assert Segment.parse(f"{index}/4").global_shards(1, 3) == ((index + 4,), 12)
        assert Segment.parse(f"{index}/4:{index + 1}/4", "0,1/4,2/4,3/4,1").stripes == (index,)


def test_one_entity_stays_on_one_instance_in_an_unequal_split() -> None:
    flow = GeneratedPlan(ArrivalSpec("constant", rate=1000.0, count=400),
                         GeneratedEvents(flow="order-lifecycle", seed=5))
    chains: dict[str, set[tuple[str, int]]] = {}
    orders: dict[str, list[int]] = {}
    for segment in parts("0,1/4,1/2,1"):
        for worker in range(2):
            for offset, out in SegmentedPlan(flow, segment)(worker, 2):
                chain = out.event.extensions.get("correlationid")
                if chain:
                    chains.setdefault(chain, set()).add((str(segment), worker))
                    orders.setdefault(chain, []).append(offset)
    assert len(chains) > 20
    assert all(len(places) == 1 for places in chains.values())  # one instance, one worker
    assert all(times == sorted(times) for times in orders.values())  # and in order


def test_a_merged_run_that_falls_behind_records_every_event_it_did_not_send() -> None:
    whole = GeneratedPlan(SPECS["poisson"], GeneratedEvents(seed=3))
    segment = parts("0,1/4,1/2,1")[2]  # two stripes: a merged plan
    plan = SegmentedPlan(whole, segment)(0, 1)
    assert isinstance(plan, MergedRun)
    plan.prime()
    taken = [next(plan) for _ in range(50)]
    rest = np.concatenate(list(plan.rest_records(1_000, type_index=9, chunk=64)))
    everything = [o for o, _ in SegmentedPlan(whole, segment)(0, 1)]
    assert len(taken) + len(rest) == len(everything)
    assert sorted([o for o, _ in taken] + (rest["intended_ns"] - 1_000).tolist()) == everything
    keys = {e.key for _, e in taken} | {bytes(k) for k in rest["key"]}
    assert len(keys) == len(everything)  # every id once: the held heads are not lost nor doubled


def test_a_replayed_log_splits_by_the_same_stripes(tmp_path: object) -> None:
    from pathlib import Path

    from evtool.events.codecs import write_jsonl
    from evtool.load.plan import ReplayPlan

    log = Path(str(tmp_path)) / "events.jsonl"
    stream = GeneratedEvents(seed=1).stream(0)
    with log.open("wb") as handle:
        write_jsonl((e for _, e in zip(range(90), stream, strict=False)), handle)
    replay = ReplayPlan(log, rate=900.0)
    everything = [(o, e.event.id) for o, e in replay(0, 1)]
    for sequence in SEQUENCES:
        union = []
        for segment in parts(sequence):
            plan = SegmentedPlan(replay, segment)
            by_events = [(o, e.event.id) for o, e in plan(0, 1)]
            blocks = plan.blocks(0, 1)
            assert blocks is not None
            by_blocks = [(int(b.offsets[i]), json.loads(b.line(i))["id"])
                         for b in blocks for i in range(len(b))]
            assert by_blocks == by_events  # the fast path sends what the event path sends
            union += by_events
        assert sorted(union) == sorted(everything)


def test_k6_defaults_apply_only_where_every_instance_agrees() -> None:
    first, rest = Segment.parse("0:1/3"), Segment.parse("1/3:1")
    assert str(first.sequence) == str(rest.sequence) == "0,1/3,1"  # both ends imply the same sequence
    assert (first.stripes, rest.stripes) == ((1,), (0, 2))
    assert str(Segment.parse("1/4:1/2", "0,25%,0.5,1")) == "1/4:1/2"
    assert str(Segment.parse("1/4:1/2", "0,25%,0.5,1").sequence) == "0,1/4,1/2,1"
    assert str(Segment.parse("1/3")) == "1/3"  # the shorthand stays as given
    assert Segment.parse("1/4", "0,1/4,1/2,1").start == Fraction(1, 4)  # I/N in a given sequence: 1/4:2/4
    with pytest.raises(UsageError, match="needs --segment-sequence"):
        Segment.parse("1/4:1/2")  # a middle part alone: its neighbours would imply other sequences


@pytest.mark.parametrize(
    ("segment", "sequence", "message"),
    [
        ("3/4:1/4", None, "the start must be below the end"),
        ("1/4:1/2", "0,1/3,1/2,1", "1/4 is not a point of --segment-sequence 0,1/3,1/2,1"),
        ("0:1/2", "0,1/2", "must end at 1"),
        ("0:1/2", "1/4,1/2,1", "must start at 0"),
        ("0:1/2", "0,1/2,1/4,1", "must increase"),
        ("0:1/2", "0,1/4,1/2,1", "spans 2 parts"),
        ("0:x", None, "'x' is not a fraction"),
        ("0:3/2", None, "outside the schedule"),
        ("0:1/2", "0,1/2,abc,1", "'abc' is not a fraction"),
        ("0:1/101", None, "common denominator 101 is over 100"),
        ("2/4", "0,1/3,1", "1/2 is not a point"),
    ],
)
def test_bad_segments_name_the_option_and_what_is_wrong(
    segment: str, sequence: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match="--segment") as caught:
        Segment.parse(segment, sequence)
    assert message in caught.value.message
    assert "\n" not in caught.value.message
