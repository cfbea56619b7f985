"""The live snapshot's numbers during real runs: a consumer slower than the rate (acknowledgements
fast, results late), a target that fails some events, a run with no collector; and
`--abort-on-fail` ending runs whose objective is lost (and only those)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.http_servers import counting_sink, free_port, status_sink
from tests.support.slow_consumer import slow_consumer

from evtool.events.envelope import CloudEvent, dataschema_uri
from evtool.load.dispatcher import DispatchOptions
from evtool.load.live import LiveSpec, LogTail, Snapshot, judge
from evtool.load.plan import ArrivalSpec, GeneratedPlan, ReplayPlan
from evtool.load.runner import CollectorSpec, RunSpec, RunSummary, run
from evtool.load.targets.base import TargetOptions
from evtool.results.runlog import Status, read_run
from evtool.results.slo import parse_slo


def make_events(shard: int = 0, workers: int = 1) -> Iterator[CloudEvent]:
    number = 0
    while True:
        yield CloudEvent(id=f"evt-{shard}-{number}", source="/tests", type="commerce.order.placed",
                         time="2026-01-01T00:00:00Z", data={"order_id": f"o-{number}"},
                         dataschema=dataschema_uri("commerce.order.placed", 2))
        number += 1


def _run(url: str, run_dir: Path, arrival: ArrivalSpec, *, collector: str | None = None,
         result_timeout_s: float = 3.0, live: LiveSpec | None = None,
         snapshots: list[Snapshot] | None = None) -> RunSummary:
    spec = RunSpec(
        plan=GeneratedPlan(arrival, make_events, structured_ids=False),
        target=TargetOptions(url, client="aiohttp", timeout_s=5),
        dispatch=DispatchOptions(grace_s=2),
        run_dir=run_dir,
        planned_duration_s=arrival.planned_duration_s,
        collector=CollectorSpec(collector, result_timeout_s=result_timeout_s) if collector else None,
        live=live or LiveSpec(),
    )
    return run(spec, on_snapshot=None if snapshots is None else snapshots.append)


def test_overload_shows_end_to_end_latency_and_backlog_while_acks_stay_fast(tmp_path: Path) -> None:
    """100 events/s to a consumer that manages 40/s: the acks stay in milliseconds, but end-to-end
    latency and the backlog grow with time, and the view says so while the run goes on."""
    collector = f"127.0.0.1:{free_port()}"
    snapshots: list[Snapshot] = []
    with slow_consumer(collector, workers=1, service_s=0.025) as consumer:
        summary = _run(consumer.url, tmp_path / "run", ArrivalSpec("constant", rate=100, duration_s=4),
                       collector=collector, result_timeout_s=2, snapshots=snapshots)
    sending = [s for s in snapshots if not s.finished]
    assert sending, "no snapshot while sending"
    assert {s.target_rate for s in sending} == {100.0}  # the rate asked, not a measurement
    late = [s for s in sending if s.elapsed_s > 3.0]
    assert late, [s.elapsed_s for s in sending]
    last = late[-1]
    assert last.collecting
    # ~300 sent by t=3 s, ~120 answered: a backlog of well over 100 waiting for results
    assert last.backlog >= 100, last
    assert last.backlog == last.in_flight + last.acked - last.results, last  # lost ones still wait
    assert (last.oldest_wait_s or 0) > 1.0, last
    assert (last.e2e_p99_ms or 0) > 1000, last  # results arrive more than a second late
    assert last.ack_p99_ms is not None
    assert last.ack_p99_ms < 500, last  # while the acks are fast
    assert last.e2e_state == "bad"
    early = next(s for s in sending if s.results > 0)
    assert early.e2e_p99_ms is not None
    assert early.e2e_p99_ms < last.e2e_p99_ms
    # the counts grow and agree with the run's own log at the end
    results = [s.results for s in snapshots]
    assert results == sorted(results)
    final = snapshots[-1]
    log = read_run(tmp_path / "run")
    assert final.acked == summary.ok == int((log.events["status"] == Status.OK).sum())
    assert 0 < final.results <= len(log.results)
    assert final.results <= consumer.counts()[1]
    assert final.failures == ()


def test_failures_by_reason_and_no_collector(tmp_path: Path) -> None:
    """Every fourth request answered 503: the snapshot names the reason with the server's own count;
    without a collector there is no end-to-end figure and the view knows it."""
    snapshots: list[Snapshot] = []
    with status_sink(lambda n: 503 if n % 4 == 0 else 202) as sink:
        _run(sink.url, tmp_path / "run", ArrivalSpec("constant", rate=200, count=200), snapshots=snapshots)
    final = snapshots[-1]
    kinds = {(outcome, text): count for outcome, text, count in final.failures}
    assert kinds.pop(("failed", "HTTP 503")) == sink.answered[503] > 0
    assert set(kinds) <= {("dropped", "behind-schedule")}  # what a loaded box may add, nothing else
    assert not final.collecting
    assert final.e2e_p99_ms is None
    assert final.results == 0
    assert final.backlog == 0


def test_live_numbers_match_the_log_with_results_for_every_event(tmp_path: Path) -> None:
    """A consumer that keeps up: every acknowledged event's result is matched, none lost, all in time."""
    collector = f"127.0.0.1:{free_port()}"
    snapshots: list[Snapshot] = []
    with counting_sink(collector) as sink:
        _run(sink.url, tmp_path / "run", ArrivalSpec("constant", rate=200, count=300), collector=collector,
             snapshots=snapshots, result_timeout_s=30)  # on a loaded box the posts may take a while
    final = snapshots[-1]
    assert final.acked > 0
    assert final.results == final.acked, final  # (a loaded box may drop some behind schedule)
    target_bucket = final.bucket_bounds_s.index(2.0)  # the cumulative count at the target is "in time"
    assert final.in_time == final.bucket_counts[target_bucket], final
    assert final.backlog == 0
    assert final.lost == 0
    assert final.bucket_counts[-1] == final.results  # the histogram's +Inf bucket: every result
    assert final.e2e_p99_ms is not None


def _slo_run(tmp_path: Path, url: str, objective: str, arrival: ArrivalSpec, **kwargs: object) -> RunSummary:
    live = LiveSpec(target_ns=2_000_000_000, objectives=(objective,), abort_on_fail=True)
    return _run(url, tmp_path / "run", arrival, live=live, **kwargs)  # type: ignore[arg-type]


def test_abort_on_fail_ends_the_run_when_p99_cannot_recover(tmp_path: Path) -> None:
    """p99<=500ms against a consumer at 40/s of 100/s asked: at 1000 events at most 10 may be late;
    once the backlog holds more than that past 500 ms the run stops, well before its 10 s."""
    collector = f"127.0.0.1:{free_port()}"
    with slow_consumer(collector, workers=1, service_s=0.025) as consumer:
        summary = _slo_run(tmp_path, consumer.url, "p99<=500ms",
                           ArrivalSpec("constant", rate=100, duration_s=10), collector=collector,
                           result_timeout_s=2)
    assert str(summary.aborted_by).startswith("p99<=500ms at t="), summary
    assert not summary.interrupted
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["abort"]["objective"] == "p99<=500ms"
    assert 0.5 < meta["abort"]["at_s"] < 5.0, meta["abort"]
    assert summary.scheduled < 600, summary  # it stopped sending: 1000 were planned
    assert meta["interrupted"] is False
    assert meta["ended_at"]


def test_abort_on_fail_at_the_first_failure_for_failed_le_0(tmp_path: Path) -> None:
    with status_sink(lambda n: 503 if n >= 50 else 202) as sink:
        summary = _slo_run(tmp_path, sink.url, "failed<=0", ArrivalSpec("constant", rate=100, duration_s=8))
    assert str(summary.aborted_by).startswith("failed<=0 at t="), summary
    assert summary.scheduled < 200, summary  # ~0.5 s then a tick or two; 800 planned


def test_a_lost_objective_without_abort_on_fail_only_shows(tmp_path: Path) -> None:
    snapshots: list[Snapshot] = []
    with status_sink(lambda n: 503 if n >= 20 else 202) as sink:
        summary = _run(sink.url, tmp_path / "run", ArrivalSpec("constant", rate=200, count=100),
                       live=LiveSpec(objectives=("failed<=0",)), snapshots=snapshots)
    assert summary.aborted_by is None
    assert summary.scheduled == 100
    assert snapshots[-1].objectives[0].state == "lost"
    assert snapshots[-1].aborted_by is None


def test_no_abort_while_the_objective_holds(tmp_path: Path) -> None:
    collector = f"127.0.0.1:{free_port()}"
    with counting_sink(collector) as sink:
        summary = _slo_run(tmp_path, sink.url, "p99<=2s", ArrivalSpec("constant", rate=100, count=150),
                           collector=collector)
    assert summary.aborted_by is None
    assert summary.scheduled == summary.ok == 150


def test_judge_within_and_percentile_bounds(tmp_path: Path) -> None:
    """within(2s)>=99% of at most 1000 events: 10 misses may still pass, the 11th cannot; p99<=2s of
    1000: 10 events over 2 s may, 11 may not (the percentile's rank is ceil(0.99 n))."""
    tail = LogTail(tmp_path, collecting=False, target_ns=2_000_000_000)
    within, p99 = parse_slo("within(2s)>=99%"), parse_slo("p99<=2s")
    tail.over[2_000_000_000] = 10
    assert judge(within, tail, 0, 1000).state == "holding"
    assert judge(p99, tail, 0, 1000).state == "holding"
    tail.over[2_000_000_000] = 11
    assert judge(within, tail, 0, 1000).state == "lost"
    assert judge(p99, tail, 0, 1000).state == "lost"
    assert judge(p99, tail, 0, None).state == "holding"  # no bound on the events: never lost
    tail.outcomes[2] = 1  # one failed event is a miss for within, and leaves the percentile's population
    tail.over[2_000_000_000] = 9
    assert judge(within, tail, 0, 1000).state == "holding"
    tail.over[2_000_000_000] = 10
    assert judge(within, tail, 0, 1000).state == "lost"
    assert judge(p99, tail, 0, 1000).state == "lost"  # 999 left: ceil(989.01) = 990 must be fast, 10 > 9


@pytest.mark.parametrize(("points", "at", "rate"), [
    (((0.0, 100.0),), 5.0, 100.0),
    (((0.0, 0.0), (10.0, 100.0), (20.0, 100.0)), 5.0, 50.0),
    (((0.0, 0.0), (10.0, 100.0), (20.0, 100.0)), 15.0, 100.0),
    ((), 1.0, None),
])
def test_rate_asked_follows_the_stages(points: tuple[tuple[float, float], ...], at: float,
                                       rate: float | None) -> None:
    assert LiveSpec(rate_points=points).rate_at(at) == rate


def test_pending_ages_are_lower_bounds(tmp_path: Path) -> None:
    """Waiting events are binned by 100 ms of intended time: one counts as older than an age only
    once its whole bin is (so an abort never rests on an event that may not have waited that long)."""
    tail = LogTail(tmp_path, collecting=True, target_ns=2_000_000_000)
    tail._bin(np.array([1_000_000_000, 1_050_000_000, 3_090_000_000], dtype=np.int64), 1)
    assert tail.pending_older_than(3_000_000_000, 2_000_000_000) == 0  # 2.0 s and 1.95 s: bin not past
    assert tail.pending_older_than(3_100_000_000, 2_000_000_000) == 2
    assert tail.pending_older_than(4_095_000_000, 1_000_000_000) == 2  # the 3.09 s one waited 1.005 s
    assert tail.pending_older_than(4_100_000_000, 1_000_000_000) == 3
    tail._bin(np.array([1_050_000_000], dtype=np.int64), -1)  # its result came
    assert tail.pending_older_than(4_100_000_000, 1_000_000_000) == 2


def test_two_workers_merge_in_the_view_and_abort_together(tmp_path: Path) -> None:
    """--workers 2: the parent tails both shards (failures of each counted once), and --abort-on-fail
    stops both senders as one run (not an interrupt)."""
    log = tmp_path / "rec.jsonl"
    log.write_text("".join(json.dumps({
        "specversion": "1.0", "id": f"r-{i}", "source": "/rec", "type": "t.x",
        "time": f"2026-01-01T00:{i // 6000:02d}:{i // 100 % 60:02d}.{i % 100 * 10:03d}Z",
        "datacontenttype": "application/json", "data": {"n": i}}) + "\n" for i in range(1000)))
    snapshots: list[Snapshot] = []
    with status_sink(lambda n: 503 if n >= 100 else 202) as sink:
        spec = RunSpec(plan=ReplayPlan(log, rate=100.0), target=TargetOptions(sink.url), workers=2,
                       run_dir=tmp_path / "run", planned_duration_s=10,
                       live=LiveSpec(objectives=("failed<=0",), abort_on_fail=True, planned_events=1000))
        summary = run(spec, on_snapshot=snapshots.append)
    assert str(summary.aborted_by).startswith("failed<=0 at t="), summary
    assert not summary.interrupted
    assert summary.scheduled < 600, summary  # 1000 planned over 10 s
    final = snapshots[-1]
    kinds = {(outcome, text): count for outcome, text, count in final.failures}
    assert kinds[("failed", "HTTP 503")] == summary.failed == sink.answered[503]
    assert sum(c for (outcome, _), c in kinds.items() if outcome == "aborted") == summary.aborted
    assert final.acked == summary.ok
