"""The collector's policy around a run: start-up frozen and a larger youngest generation while
events flow, both undone when the run ends (also when it fails)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path

import pytest

from evtool.errors import InputError
from evtool.events.envelope import CloudEvent
from evtool.load.dispatcher import DispatchOptions
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.runner import RUN_GC_THRESHOLD, RunSpec, run
from evtool.load.targets.base import OutEvent, SendResult, TargetOptions
from evtool.load.targets.memory import register_handler
from evtool.results.runlog import Status


def events(shard: int = 0, workers: int = 1) -> Iterator[CloudEvent]:
    return (CloudEvent(f"e-{n}", "urn:test", "t.heap", data={"n": n}) for n in range(50))


@pytest.fixture
def own_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 9, 11)  # distinctive: the run must restore these, not Python's defaults
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


def _spec(tmp_path: Path, target: str) -> RunSpec:
    return RunSpec(
        plan=GeneratedPlan(ArrivalSpec("constant", rate=1e6, count=50), events, None),
        target=TargetOptions(target), dispatch=DispatchOptions(as_fast_as_possible=True),
        run_dir=tmp_path / "run")


def test_a_run_collects_less_often_and_restores_the_collector_after(
        tmp_path: Path, own_thresholds: tuple[int, int, int]) -> None:
    seen: list[tuple[tuple[int, int, int], int]] = []

    def handler(batch: Sequence[OutEvent]) -> SendResult:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return SendResult(Status.OK)

    register_handler("heap", handler, submit=True)
    summary = run(_spec(tmp_path, "memory:heap"))
    assert summary.ok == 50
    assert {threshold for threshold, _ in seen} == {(RUN_GC_THRESHOLD, 9, 11)}
    assert all(frozen > 0 for _, frozen in seen), "start-up's objects are frozen while events flow"
    assert gc.get_threshold() == own_thresholds
    assert gc.get_freeze_count() == 0


def _cut_short(shard: int = 0, workers: int = 1) -> Iterator[CloudEvent]:
    yield from islice(events(), 10)
    raise InputError("events.jsonl:11: not an event")


def test_a_run_that_fails_restores_the_collector_too(tmp_path: Path,
                                                     own_thresholds: tuple[int, int, int]) -> None:
    register_handler("heap-fails", lambda batch: SendResult(Status.OK), submit=True)
    spec = replace(_spec(tmp_path, "memory:heap-fails"),
                   plan=GeneratedPlan(ArrivalSpec("constant", rate=1e6, count=50), _cut_short, None))
    with pytest.raises(InputError, match="not an event"):
        run(spec)
    assert gc.get_threshold() == own_thresholds
    assert gc.get_freeze_count() == 0
