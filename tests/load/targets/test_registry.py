"""Targets by URL scheme, the in-memory target, and the protocol-neutral failure texts in the run log."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evtool.errors import TargetError, UsageError
from evtool.events.envelope import CloudEvent, dataschema_uri
from evtool.load.dispatcher import DispatchOptions
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.runner import RunSpec, run
from evtool.load.targets import make_target, opened, validate_target
from evtool.load.targets.base import OutEvent, SendResult, TargetOptions
from evtool.load.targets.memory import MemoryTarget, register_handler
from evtool.load.targets.registry import TransportSpec, register, scheme_of, transport_for
from evtool.results.runlog import Reason, Status, failure_details, open_run, read_run


def events(shard: int = 0, workers: int = 1) -> object:
    number = 0
    while True:
        yield CloudEvent(
            id=f"evt-{shard}-{number}", source="/tests", type="commerce.order.placed",
            time="2026-01-01T00:00:00Z", data={"order_id": f"o-{number}", "n": number},
            dataschema=dataschema_uri("commerce.order.placed", 2),
        )
        number += 1


@pytest.mark.parametrize(
    ("target", "scheme"),
    [("http://127.0.0.1:1/x", "http"), ("https://h/x", "https"), ("file:out.jsonl", "file"), ("-", "-"),
     ("kafka://127.0.0.1:9092/orders", "kafka"), ("memory:", "memory"), ("KAFKA://h:1/t", "kafka")],
)
def test_the_scheme_chooses_the_transport(target: str, scheme: str) -> None:
    assert scheme_of(target) == scheme
    assert scheme in transport_for(target).schemes


def test_an_unknown_scheme_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        validate_target(TargetOptions("nats://127.0.0.1:4222/x"))
    assert "unknown kind of target" in caught.value.message
    hint = caught.value.hint or ""
    assert "kafka" in hint
    assert "memory" in hint


def test_a_new_transport_is_a_registration_not_a_dispatcher_change() -> None:
    made: list[str] = []

    def make(options: TargetOptions) -> MemoryTarget:
        made.append(options.target)
        return MemoryTarget(name="plugged")

    register(TransportSpec(("plug",), make, "plug://…"))
    target = make_target(TargetOptions("plug://somewhere"))
    assert made == ["plug://somewhere"]
    assert target.description == "memory:plugged"


def test_help_imports_no_transport() -> None:
    """`evtool --help` must stay fast: no aiohttp, no librdkafka until a run needs them."""
    code = ("import sys; from evtool.cli.app import main; import evtool.load.targets; "
            "print(sorted(m for m in ('aiohttp', 'confluent_kafka') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_targets_are_async_context_managers() -> None:
    async def go() -> MemoryTarget:
        async with MemoryTarget() as target:
            assert target.opened
            assert not target.closed
        return target

    target = asyncio.run(go())
    assert target.closed

    async def failing() -> None:
        async with opened(MemoryTarget(fail_open="refused")):
            raise AssertionError("not reached")

    with pytest.raises(TargetError, match="refused"):
        asyncio.run(failing())


def test_memory_handler_decides_each_outcome_and_the_log_keeps_the_transport_text(tmp_path: Path) -> None:
    """Every fourth event fails with a transport-named error, every fifth is refused (queue full)."""
    seen: list[str] = []

    async def handler(batch: Sequence[OutEvent]) -> SendResult:
        number = int(batch[0].event.id.rsplit("-", 1)[1])
        seen.append(batch[0].event.id)
        await asyncio.sleep(0.001)
        if number % 5 == 4:
            return SendResult(Status.DROPPED, Reason.QUEUE_FULL, detail="_QUEUE_FULL: Local: Queue full")
        if number % 4 == 3:
            return SendResult(Status.FAILED, Reason.TRANSPORT, detail="MSG_SIZE_TOO_LARGE: Broker: too large")
        return SendResult(Status.OK)

    register_handler("decides", handler)
    summary = run(RunSpec(
        plan=GeneratedPlan(ArrivalSpec("constant", rate=400, duration_s=0.5), events, None,
                           structured_ids=False),
        target=TargetOptions("memory:decides"), dispatch=DispatchOptions(), run_dir=tmp_path / "run",
    ))
    assert summary.scheduled == len(seen) == 200
    dropped = sum(1 for n in range(200) if n % 5 == 4)
    failed = sum(1 for n in range(200) if n % 5 != 4 and n % 4 == 3)
    assert (summary.ok, summary.failed, summary.dropped, summary.aborted) == (200 - dropped - failed, failed,
                                                                              dropped, 0)
    assert failure_details(tmp_path / "run") == {"_QUEUE_FULL: Local: Queue full": dropped,
                                                 "MSG_SIZE_TOO_LARGE: Broker: too large": failed}
    log = read_run(tmp_path / "run")
    refused = log.events["reason"] == Reason.QUEUE_FULL
    assert (log.events["status"][refused] == Status.DROPPED).all()
    assert (log.events["sent_ns"][refused] == 0).all(), "a refused event never left this host"
    assert (log.events["detail"][log.events["status"] == Status.OK] == 0).all()
    shard = open_run(tmp_path / "run").event_files[0]
    assert set(shard.details) == {"_QUEUE_FULL: Local: Queue full", "MSG_SIZE_TOO_LARGE: Broker: too large"}
    assert np.unique(log.events["detail"]).tolist() == [0, 1, 2]


def test_unknown_memory_handler_is_bad_input() -> None:
    with pytest.raises(UsageError, match="no handler registered"):
        validate_target(TargetOptions("memory:nobody"))
