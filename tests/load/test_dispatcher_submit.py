"""The dispatcher's submit path (targets that take a request without a task: Kafka), on the in-memory target.

Every event taken from the plan must end as exactly one record, with the dispatcher's counters
equal to the records: acked (at the handler's answer, not before), failed with the handler's
reason, dropped at once (refused locally, or the in-flight cap), aborted when the grace period
ends with answers still missing, and an answer arriving after that changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from evtool.events.envelope import CloudEvent
from evtool.load.dispatcher import Dispatcher, DispatchOptions, DispatchResult
from evtool.load.plan import ReplayPlan
from evtool.load.targets.base import OK_RESULT, OutEvent, SendResult, Submitter
from evtool.load.targets.memory import MemoryTarget, SubmittingMemoryTarget
from evtool.results.clock import RunClock
from evtool.results.runlog import EVENT_DTYPE, EventLogWriter, Reason, Status, correlation_key

MS = 1_000_000
QUEUE_FULL = SendResult(Status.DROPPED, Reason.QUEUE_FULL, detail="_QUEUE_FULL: Local: Queue full")
BOOM = SendResult(Status.FAILED, Reason.TRANSPORT, detail="BOOM: refused")


def _event(number: int) -> OutEvent:
    event = CloudEvent(id=f"evt-{number}", source="/submit", type="commerce.order.placed", data={"n": number})
    return OutEvent(event=event, key=correlation_key(event.id), schema_version=1)


def _number(events: Sequence[OutEvent]) -> int:
    data = events[0].event.data
    assert isinstance(data, dict)
    return int(data["n"])


def _records(run_dir: Path) -> Any:
    raw = (run_dir / "events-0.bin").read_bytes()
    return np.frombuffer(raw, dtype=EVENT_DTYPE)


def _dispatch(run_dir: Path, target: Any, count: int, gap_ns: int, options: DispatchOptions,
              after: Callable[[], None] | None = None) -> tuple[DispatchResult, Dispatcher]:
    """Runs `count` events `gap_ns` apart; then `after()` and a few loop turns (answers too late)."""
    run_dir.mkdir(exist_ok=True)

    async def go() -> tuple[DispatchResult, Dispatcher]:
        clock = RunClock()
        writer = EventLogWriter(run_dir)
        plan = ((i * gap_ns, _event(i)) for i in range(count))
        dispatcher = Dispatcher(plan, target, writer, clock, start_ns=clock.now_ns() + 20 * MS,
                                options=options)
        result = await dispatcher.run()
        if after is not None:
            after()
            await asyncio.sleep(0.05)
        writer.close()
        await target.close()
        return result, dispatcher

    return asyncio.run(go())


def _adds_up(result: DispatchResult, records: Any) -> None:
    assert result.scheduled == len(records) == result.ok + result.failed + result.dropped + result.aborted
    assert len({bytes(k) for k in records["key"]}) == len(records), "one record per event"


def test_the_memory_target_takes_the_submit_path_only_when_asked() -> None:
    assert isinstance(SubmittingMemoryTarget(), Submitter)
    assert not isinstance(MemoryTarget(), Submitter), "memory: keeps the task path (HTTP-like)"


def test_every_outcome_is_one_record_decided_by_the_handler(tmp_path: Path) -> None:
    """Five kinds of answer, in turn: at once, failed, refused locally, 60 ms late, never (then too late)."""
    never: list[asyncio.Future[SendResult]] = []

    async def late() -> SendResult:
        await asyncio.sleep(0.06)
        return OK_RESULT

    def handler(events: Sequence[OutEvent]) -> Any:
        kind = _number(events) % 5
        if kind == 0:
            return OK_RESULT
        if kind == 1:
            return BOOM
        if kind == 2:
            return QUEUE_FULL
        if kind == 3:
            return late()
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        never.append(future)
        return future

    target = SubmittingMemoryTarget(handler)
    count = 200

    def answer_too_late() -> None:
        assert len(never) == 40
        assert not any(f.done() for f in never)
        for future in never:
            future.set_result(OK_RESULT)

    result, dispatcher = _dispatch(tmp_path / "run", target, count, gap_ns=MS // 2,
                                   options=DispatchOptions(grace_s=0.3), after=answer_too_late)
    records = _records(tmp_path / "run")
    _adds_up(result, records)
    assert (dispatcher.ok, dispatcher.aborted, dispatcher.in_flight) == (result.ok, result.aborted, 0), \
        "answers after the grace period count nothing"
    kinds = {correlation_key(f"evt-{n}"): n % 5 for n in range(count)}
    kind = np.array([kinds[bytes(k)] for k in records["key"]])
    by_kind = [records[kind == k] for k in range(5)]
    ok, failed, refused, delayed, unanswered = by_kind
    assert (ok["status"] == Status.OK).all()
    assert len(ok) == 40
    assert (ok["ack_ns"] >= ok["sent_ns"]).all()
    assert ((failed["status"] == Status.FAILED) & (failed["reason"] == Reason.TRANSPORT)).all()
    assert len(failed) == 40
    assert (failed["detail"] != 0).all()
    assert (failed["ack_ns"] == 0).all()
    assert ((refused["status"] == Status.DROPPED) & (refused["reason"] == Reason.QUEUE_FULL)).all()
    assert len(refused) == 40
    assert (refused["sent_ns"] == 0).all(), "refused locally: never left this host"
    assert (delayed["status"] == Status.OK).all()
    assert len(delayed) == 40
    assert ((delayed["ack_ns"] - delayed["sent_ns"]) >= 55 * MS).all(), "acked when the answer came"
    assert ((unanswered["status"] == Status.FAILED) & (unanswered["reason"] == Reason.CANCELLED)).all()
    assert len(unanswered) == 40
    assert (unanswered["sent_ns"] > 0).all(), "in flight at the end: aborted"
    assert (result.ok, result.failed, result.dropped, result.aborted) == (80, 40, 40, 40)
    assert dispatcher.in_flight == 0


def test_the_in_flight_cap_drops_and_a_freed_slot_takes_the_next(tmp_path: Path) -> None:
    """Three slots held 100 ms: events meeting the cap are DROPPED max-in-flight at once, never delayed;
    once the answers come, the next events go out again."""
    held: list[asyncio.Future[SendResult]] = []

    def handler(events: Sequence[OutEvent]) -> Any:
        number = _number(events)
        if number >= 3:
            return OK_RESULT
        future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.1, future.set_result, OK_RESULT)
        held.append(future)
        return future

    target = SubmittingMemoryTarget(handler)
    # 40 events 5 ms apart (200 ms): the first 3 hold every slot for 100 ms
    result, _ = _dispatch(tmp_path / "run", target, 40, gap_ns=5 * MS,
                          options=DispatchOptions(max_in_flight=3, grace_s=1.0))
    records = _records(tmp_path / "run")
    _adds_up(result, records)
    dropped = records[records["status"] == Status.DROPPED]
    assert (dropped["reason"] == Reason.MAX_IN_FLIGHT).all()
    assert 10 <= len(dropped) <= 25, "dropped while the slots were held, and only then"
    assert (dropped["sent_ns"] == 0).all()
    assert result.ok == 40 - len(dropped) == len(target.requests)
    order = np.argsort(records["intended_ns"])
    statuses = records["status"][order]
    last_drop = int(np.nonzero(statuses == Status.DROPPED)[0].max())
    assert last_drop < 30
    assert (statuses[last_drop + 1 :] == Status.OK).all(), "slots freed: sending again"


def test_as_fast_as_possible_waits_for_a_slot_instead_of_dropping(tmp_path: Path) -> None:
    async def slow(events: Sequence[OutEvent]) -> SendResult:
        await asyncio.sleep(0.002)
        return OK_RESULT

    target = SubmittingMemoryTarget(slow)
    result, _ = _dispatch(tmp_path / "run", target, 300, gap_ns=0,
                          options=DispatchOptions(max_in_flight=4, as_fast_as_possible=True))
    records = _records(tmp_path / "run")
    _adds_up(result, records)
    assert result.ok == 300
    assert result.dropped == 0
    assert (records["status"] == Status.OK).all()


def test_a_stop_aborts_what_is_in_flight_and_what_was_not_sent(tmp_path: Path) -> None:
    """Ctrl-C twice (the second cuts the grace short): in flight -> aborted with its send time,
    the event due -> aborted without one (the rest of the plan is not taken); a target
    that raises in submit fails that request, no more."""

    def handler(events: Sequence[OutEvent]) -> Any:
        if _number(events) == 7:
            raise RuntimeError("a target bug")
        return asyncio.get_running_loop().create_future()  # never answered

    target = SubmittingMemoryTarget(handler)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    async def go() -> DispatchResult:
        clock = RunClock()
        writer = EventLogWriter(run_dir)
        plan = ((i * MS, _event(i)) for i in range(1000))
        dispatcher = Dispatcher(plan, target, writer, clock, start_ns=clock.now_ns() + 20 * MS,
                                options=DispatchOptions(grace_s=30.0))
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, dispatcher.stop)
        loop.call_later(0.3, dispatcher.stop)
        started = loop.time()
        result = await dispatcher.run()
        assert loop.time() - started < 5, "the second stop cut the 30 s grace short"
        writer.close()
        return result

    result = asyncio.run(go())
    records = _records(run_dir)
    _adds_up(result, records)
    assert result.interrupted
    assert 100 <= result.scheduled <= 500, "stopped after about 200 ms of a 1 s plan"
    assert result.aborted == result.scheduled - 1
    assert result.failed == 1
    assert result.ok == 0
    sent = records[records["sent_ns"] > 0]
    assert ((sent["status"] == Status.FAILED) & (sent["reason"] != Reason.NONE)).all()
    assert (sent["reason"] == Reason.OTHER).sum() == 1, "the target's bug: that request failed"
    unsent = records[records["sent_ns"] == 0]
    assert ((unsent["status"] == Status.DROPPED) & (unsent["reason"] == Reason.CANCELLED)).all()
    assert len(unsent) == 1, "the event due when the stop came: aborted, never sent"


def test_a_replayed_log_as_fast_as_possible_submits_runs_of_events_each_recorded_once(tmp_path: Path) -> None:
    """The replay (blocks) path hands runs of events to a Submitter and writes their records when the
    last answer comes: mixed outcomes (acked, failed, refused, late, never) must land on the right rows."""
    log = tmp_path / "events.jsonl"
    lines = [orjson.dumps({"specversion": "1.0", "id": f"evt-{n}", "source": "/submit",
                           "type": "commerce.order.placed", "data": {"n": n}}) for n in range(1500)]
    log.write_bytes(b"\n".join(lines) + b"\n")
    plan = ReplayPlan(path=log, as_fast_as_possible=True, chunk_bytes=1 << 14)  # several blocks

    async def late() -> SendResult:
        await asyncio.sleep(0.03)
        return OK_RESULT

    def handler(events: Sequence[OutEvent]) -> Any:
        kind = _number(events) % 5
        if kind == 4:
            return asyncio.get_running_loop().create_future()  # never answered
        return (OK_RESULT, BOOM, QUEUE_FULL, None)[kind] or late()

    target = SubmittingMemoryTarget(handler)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    async def go() -> DispatchResult:
        clock = RunClock()
        writer = EventLogWriter(run_dir)
        blocks = plan.blocks(0, 1)
        dispatcher = Dispatcher(iter(()), target, writer, clock, start_ns=clock.now_ns(), blocks=blocks,
                                options=DispatchOptions(max_in_flight=700, grace_s=0.3,
                                                        as_fast_as_possible=True))
        result = await dispatcher.run()
        writer.close()
        return result

    result = asyncio.run(go())
    records = _records(run_dir)
    _adds_up(result, records)
    kinds = {correlation_key(f"evt-{n}"): n % 5 for n in range(1500)}
    kind = np.array([kinds[bytes(k)] for k in records["key"]])
    assert len(records) == 1500
    ok = records[(kind == 0) | (kind == 3)]
    assert (ok["status"] == Status.OK).all()
    assert (ok["ack_ns"] >= ok["sent_ns"]).all()
    assert (ok["sent_ns"] > 0).all()
    assert ((records[kind == 3]["ack_ns"] - records[kind == 3]["sent_ns"]) >= 25 * MS).all()
    failed = records[kind == 1]
    assert ((failed["status"] == Status.FAILED) & (failed["reason"] == Reason.TRANSPORT)).all()
    assert (failed["detail"] != 0).all()
    refused = records[kind == 2]
    assert ((refused["status"] == Status.DROPPED) & (refused["reason"] == Reason.QUEUE_FULL)).all()
    assert (refused["sent_ns"] == 0).all()
    never = records[kind == 4]
    assert ((never["status"] == Status.FAILED) & (never["reason"] == Reason.CANCELLED)).all()
    assert (result.ok, result.failed, result.dropped, result.aborted) == (600, 300, 300, 300)
