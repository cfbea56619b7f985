"""Merging run directories one at a time gives the report of all their records taken together.

`compute_stats` takes segments (one run dir each) one component at a time, to keep memory to
one run's. The reference is the same records written as shards of one run directory, which is
always one computation: every number of the report must be the same, including time windows
that widen as later runs stretch the span, and keys that cross run dirs (a result collected
in another segment's dir, replayed ids in two runs), which make the merge fall back to one
computation.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from runfixtures import MS, Ev, write_run

from evtool.results.report import build_document
from evtool.results.runlog import EventIds, Reason, Status, open_run
from evtool.results.slo import parse_slos
from evtool.results.stats import compute_stats

COMPARED = ("counts", "reasons", "latency_ms", "by_type", "windows", "distribution", "hdr_histograms",
            "verdict")


def _segment(index: int, rng: random.Random, start_ms: float, count: int, step_ms: float) -> list[Ev]:
    ids = EventIds(0, nonce=1000 + index)
    events = []
    for i in range(count):
        text, _ = ids.next()
        at = start_ms + i * step_ms
        roll = rng.random()
        if roll < 0.05:
            events.append(Ev(text, at, status=Status.FAILED, reason=Reason.TIMEOUT))
        elif roll < 0.08:
            events.append(Ev(text, at, status=Status.DROPPED, reason=Reason.CANCELLED))
        elif roll < 0.12:
            events.append(Ev(text, at))  # lost
        elif roll < 0.15:
            events.append(Ev(text, at, result_ms=[at + 11_000]))  # late
        elif roll < 0.25:
            events.append(Ev(text, at, result_ms=[at + 900, at + 300]))  # duplicate results
        else:
            events.append(Ev(text, at, result_ms=[at + rng.uniform(20, 2500)],
                             event_type=("order", "alert", "complaint")[index % 3], version=1 + i % 2))
    rng.shuffle(events)
    return events


def _docs(separate: list[Path], together: Path, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    merged = compute_stats([open_run(p) for p in separate], separate, **kwargs)
    single = compute_stats([open_run(together)], [together], **kwargs)
    return build_document(merged, parse_slos(None)), build_document(single, parse_slos(None))


def _write_both(tmp_path: Path, segments: list[list[Ev]],
                extra: dict[int, list[tuple[str, float]]] | None = None) -> tuple[list[Path], Path]:
    separate = []
    for index, events in enumerate(segments):
        more = (extra or {}).get(index, [])
        separate.append(write_run(tmp_path / f"seg-{index}", events, extra_results=more))
        write_run(tmp_path / "together", events, shard=index, extra_results=more)
    return separate, tmp_path / "together"


@pytest.mark.parametrize("chunk_records", [7, 1 << 15])
def test_segments_merged_one_by_one_equal_one_run_of_all_their_records(tmp_path: Path,
                                                                      chunk_records: int) -> None:
    rng = random.Random(4)
    # the third segment starts late: with 1 s windows the span outgrows 300 windows only then,
    # so the windows already filled must fold into wider ones
    segments = [_segment(0, rng, 0, 300, 20), _segment(1, rng, 5, 300, 20),
                _segment(2, rng, 400_000, 200, 30)]
    foreign = str(uuid.uuid4())
    separate, together = _write_both(tmp_path, segments, {1: [(foreign, 50.0)]})  # a result for no event
    merged, single = _docs(separate, together, window_ns=1000 * MS, chunk_records=chunk_records)
    for key in COMPARED:
        assert merged[key] == single[key], key
    assert merged["counts"]["scheduled"] == 800
    assert merged["counts"]["unmatched_results"] == 1
    assert merged["counts"]["lost"] > 0
    assert any("widened" in note for note in merged["notes"])


def test_a_result_in_another_segments_dir_still_finds_its_event(tmp_path: Path) -> None:
    rng = random.Random(5)
    segments = [_segment(0, rng, 0, 100, 10), _segment(1, rng, 0, 100, 10)]
    stray = EventIds(0, nonce=1000)  # segment 0's ids
    key, _ = stray.next()
    ack_only = next(ev for ev in segments[0] if ev.key == key)
    ack_only.result_ms = []
    separate, together = _write_both(tmp_path, segments, {1: [(key, ack_only.intended_ms + 77)]})
    merged, single = _docs(separate, together)
    for k in COMPARED:
        assert merged[k] == single[k], k
    assert merged["counts"]["unmatched_results"] == 0


def test_replayed_ids_in_two_segments_are_joined_across_them(tmp_path: Path) -> None:
    a = [Ev(str(uuid.uuid4()), i * 10.0, result_ms=[i * 10.0 + 100]) for i in range(50)]
    b = [Ev(str(uuid.uuid4()), i * 10.0 + 5, result_ms=[i * 10.0 + 300]) for i in range(50)]
    moved = b[0].result_ms  # b's first result was collected in a's dir
    b[0].result_ms = []
    separate, together = _write_both(tmp_path, [a, b], {0: [(b[0].key, moved[0])]})
    merged, single = _docs(separate, together)
    for k in COMPARED:
        assert merged[k] == single[k], k
    assert merged["counts"]["lost"] == 0
    assert merged["counts"]["matched_results"] == 100
