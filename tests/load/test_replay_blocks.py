"""Replay in blocks of columns: the same events, keys, types, versions and times as the per-event plan.

The per-event plan (`ReplayPlan.__call__`, a full parse of each line) is the reference; the
block path must agree with it on every log shape, taking the fast path only where it may.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evtool.errors import InputError
from evtool.events.codecs import write_jsonl
from evtool.load import dispatcher as dispatcher_module
from evtool.load.dispatcher import DispatchOptions
from evtool.load.plan import BlockParser, EventBlock, ReplayPlan, read_chunks
from evtool.load.runner import START_LEAD_NS, RunSpec, run
from evtool.load.source import GeneratedEvents
from evtool.load.targets.base import RawBatch, TargetOptions
from evtool.results.runlog import Reason, Status, correlation_key, read_run


def _generated(path: Path, count: int, *, flow: bool = False) -> list[bytes]:
    """A log as `evtool generate` writes it (compact JSON, UUID ids); returns its lines."""
    source = GeneratedEvents(flow="order-lifecycle", seed=5) if flow else GeneratedEvents(
        mix="order=70,inventory=20,complaint=10", seed=5
    )
    stream = source.stream()
    with path.open("wb") as out:
        write_jsonl((event for _, event in zip(range(count), stream, strict=False)), out)
    return path.read_bytes().splitlines()


def _flat(blocks: list[EventBlock]) -> dict[str, list[Any]]:
    return {
        "offsets": [int(o) for b in blocks for o in b.offsets],
        "keys": [bytes(k) for b in blocks for k in b.keys],
        "types": [b.type_names[t] for b in blocks for t in b.types],
        "versions": [int(v) for b in blocks for v in b.versions],
        "lines": [b.line(i) for b in blocks for i in range(len(b))],
    }


def _reference(plan: ReplayPlan, shard: int = 0, workers: int = 1) -> dict[str, list[Any]]:
    events = list(plan(shard, workers))
    return {
        "offsets": [offset for offset, _ in events],
        "keys": [e.key for _, e in events],
        "types": [e.type for _, e in events],
        "versions": [e.schema_version for _, e in events],
        "lines": [e.raw for _, e in events],
    }


def _blocks(plan: ReplayPlan, shard: int = 0, workers: int = 1) -> list[EventBlock]:
    blocks = plan.blocks(shard, workers)
    assert blocks is not None
    return list(blocks)


def _fast_count(path: Path, chunk_bytes: int = 1 << 20) -> int:
    parser = BlockParser(str(path))
    return sum(parser.parse(at, chunk).fast for at, chunk in read_chunks(path, chunk_bytes))


@pytest.mark.parametrize("flow", [False, True])
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 3000])
@pytest.mark.parametrize(
    "timing", [{"as_fast_as_possible": True}, {"rate": 700.0}, {}, {"speed": 4.0}, {"count": 77}]
)
def test_generated_logs_take_the_fast_path_and_match_the_full_parse(
    tmp_path: Path, flow: bool, chunk_bytes: int, timing: dict[str, Any]
) -> None:
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 300, flow=flow)
    assert _fast_count(log, chunk_bytes) == 300  # every line read without a JSON parse
    plan = ReplayPlan(log, chunk_bytes=chunk_bytes, **timing)
    blocks = _blocks(plan)
    assert _flat(blocks) == _reference(plan)
    if chunk_bytes == 3000:
        assert len(blocks) > 10  # blocks cut at many line boundaries
    if "count" not in timing:
        assert _flat(blocks)["lines"] == lines  # exactly the recorded bytes


def _mixed_log(path: Path) -> None:
    """Compact lines, spaced JSON, blank and CRLF lines, non-UUID ids, escapes, another key order."""
    good = _generated(path, 6)
    other = [
        json.dumps({"specversion": "1.0", "id": "plain-id", "source": "/s", "type": "t.spaced",
                    "time": "2026-01-01T00:00:09Z", "data": {"n": 1}}).encode(),
        good[1].replace(b'"id":"', b'"id":"X', 1),  # not a UUID: keyed by a digest of the id
        good[2].replace(b'"type":"', b'"type":"\\u0061', 1),  # an escape: the type is "a..."
        b'{"id":"0b6c3fd0-3c1f-4f67-9d35-7a6f3f1b2a11","specversion":"1.0","source":"/s","type":"t.order",'
        b'"time":"2026-01-01T00:00:10Z","dataschema":"urn:evtool:schema:t.order:4","data":{}}',
        good[3].replace(b'"source":"', b'"source":"a\\"b', 1),  # an escaped quote in source
    ]
    text = (
        good[0] + b"\n\n" + other[0] + b"\r\n" + b"   \n" + other[1] + b"\n" + good[4] + b"\n"
        + other[2] + b"\n  " + other[3] + b"  \n" + other[4] + b"\n" + good[5]  # no final newline
    )
    path.write_bytes(text)


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 700])
@pytest.mark.parametrize("timing", [{"as_fast_as_possible": True}, {"rate": 100.0}, {}])
def test_other_shapes_fall_back_to_the_full_parse_line_by_line(
    tmp_path: Path, chunk_bytes: int, timing: dict[str, Any]
) -> None:
    log = tmp_path / "mixed.jsonl"
    _mixed_log(log)
    plan = ReplayPlan(log, chunk_bytes=chunk_bytes, **timing)
    flat = _flat(_blocks(plan))
    assert flat == _reference(plan)
    assert len(flat["lines"]) == 8
    assert "t.spaced" in flat["types"]
    assert "t.order" in flat["types"]
    assert any(t.startswith("a") for t in flat["types"])
    assert correlation_key("Xplain-id") not in flat["keys"]  # sanity: keys are of the real ids
    assert 0 < _fast_count(log, chunk_bytes) < 8


def test_correlate_by_a_data_field_keys_by_that_field(tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 50)
    plan = ReplayPlan(log, as_fast_as_possible=True, correlate_by="data.order_id,data.alert_id")
    flat = _flat(_blocks(plan))
    assert flat == _reference(plan)
    first = json.loads(lines[0])
    value = first["data"].get("order_id") or first["data"].get("alert_id") or first["id"]
    assert flat["keys"][0] == correlation_key(value)


def test_duration_cuts_the_schedule(tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    _generated(log, 400)
    timings: list[dict[str, Any]] = [{"rate": 1000.0}, {"speed": 2.0}]
    for timing in timings:
        plan = ReplayPlan(log, duration_s=0.05, chunk_bytes=4000, **timing)
        flat = _flat(_blocks(plan))
        assert flat == _reference(plan)
        assert flat["offsets"]
        assert max(flat["offsets"]) < 50_000_000


def test_out_of_order_times_are_sent_at_once(tmp_path: Path) -> None:
    log = tmp_path / "ooo.jsonl"
    lines = _generated(log, 5)
    times = ["2026-01-01T00:00:01.000Z", "2026-01-01T00:00:00.500Z", "2026-01-01T00:00:02.000Z",
             "2026-01-01T00:00:01.500Z", "2026-01-01T00:00:03.000Z"]
    out = [json.loads(line) for line in lines]
    for event, when in zip(out, times, strict=True):
        event["time"] = when
    log.write_text("\n".join(json.dumps(e, separators=(",", ":")) for e in out) + "\n")
    plan = ReplayPlan(log)
    flat = _flat(_blocks(plan))
    assert flat == _reference(plan)
    assert flat["offsets"] == [0, 0, 1_000_000_000, 1_000_000_000, 2_000_000_000]


@pytest.mark.parametrize("timing", [{"as_fast_as_possible": True, "count": 250}, {"rate": 500.0}, {}])
def test_worker_shares_are_disjoint_and_cover_the_log(tmp_path: Path, timing: dict[str, Any]) -> None:
    log = tmp_path / "gen.jsonl"
    _generated(log, 300)
    plan = ReplayPlan(log, chunk_bytes=5000, **timing)
    shares = [_flat(_blocks(plan, shard, 3)) for shard in range(3)]
    keys = [k for share in shares for k in share["keys"]]
    assert len(keys) == len(set(keys)) == (250 if "count" in timing else 300)
    assert all(share["keys"] for share in shares)
    if "as_fast_as_possible" not in timing:  # timed: the same interleaved shares as the event plan
        assert shares == [_reference(plan, shard, 3) for shard in range(3)]
    else:
        assert set(keys) == set(_reference(plan)["keys"])


def test_a_broken_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    log = tmp_path / "broken.jsonl"
    lines = _generated(log, 40)
    lines[30] = lines[30][:-5]  # torn JSON
    log.write_bytes(b"\n".join(lines[:10]) + b"\n\n\n" + b"\n".join(lines[10:]) + b"\n")
    with pytest.raises(InputError, match=r"broken\.jsonl:33: not valid JSON"):
        _blocks(ReplayPlan(log, as_fast_as_possible=True, chunk_bytes=2000))


def test_a_missing_time_says_how_to_replay(tmp_path: Path) -> None:
    log = tmp_path / "notime.jsonl"
    log.write_text(json.dumps({"specversion": "1.0", "id": "a", "source": "/s", "type": "t"}) + "\n")
    with pytest.raises(InputError, match="no `time`"):
        _blocks(ReplayPlan(log))
    assert len(_blocks(ReplayPlan(log, rate=10.0))[0]) == 1


def test_avro_logs_have_no_blocks(tmp_path: Path) -> None:
    log = tmp_path / "x.avro"
    log.write_bytes(b"Obj\x01rest")
    assert ReplayPlan(log).blocks(0, 1) is None


def test_raw_batches_index_as_events(tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 5)
    block = _blocks(ReplayPlan(log, as_fast_as_possible=True))[0]
    batch = RawBatch(block, 1, 4)
    assert len(batch) == 3
    assert batch.joined() == b",".join(lines[1:4])
    assert bytes(batch.bracketed()) == b"[" + b",".join(lines[1:4]) + b"]"
    assert bytes(RawBatch(block, 2, 3).bracketed()) == b"[" + lines[2] + b"]"
    assert batch.text() == b"".join(line + b"\n" for line in lines[1:4])
    assert [e.raw for e in batch] == lines[1:4]
    assert batch[-1].event.id == json.loads(lines[3])["id"]
    assert [e.raw for e in batch[1:]] == lines[2:4]
    shuffled = block.take(np.array([4, 0]))
    assert RawBatch(shuffled, 0, 2).joined() == lines[4] + b"," + lines[0]
    assert bytes(RawBatch(shuffled, 0, 2).bracketed()) == b"[" + lines[4] + b"," + lines[0] + b"]"


# -- dispatch end to end (a real HTTP server on 127.0.0.1, see tests/conftest.py) ---------------


def _replay(tmp_path: Path, url: str, log: Path, *, mode: str = "batch", size: int = 100,
            cap: int = 64, **plan: Any) -> Any:
    afap = bool(plan.get("as_fast_as_possible"))
    spec = RunSpec(
        plan=ReplayPlan(log, **plan),
        target=TargetOptions(url, mode=mode, batch_size=size, max_in_flight=cap),  # type: ignore[arg-type]
        dispatch=DispatchOptions(max_in_flight=cap, batch_size=size, as_fast_as_possible=afap),
        run_dir=tmp_path / "run",
    )
    return run(spec)


@pytest.mark.parametrize("client", ["lean", "aiohttp"])
def test_batch_replay_sends_exactly_the_recorded_bytes(sink: Any, tmp_path: Path, client: Any) -> None:
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 1000)
    spec = RunSpec(
        plan=ReplayPlan(log, as_fast_as_possible=True, chunk_bytes=50_000),
        target=TargetOptions(sink.url, mode="batch", batch_size=64, max_in_flight=8, client=client),
        dispatch=DispatchOptions(max_in_flight=8, batch_size=64, as_fast_as_possible=True),
        run_dir=tmp_path / "run",
    )
    summary = run(spec)
    assert summary.ok == summary.scheduled == 1000
    bodies = [a.body for a in sink.arrivals]
    assert all(b.startswith(b"[") and b.endswith(b"]") for b in bodies)
    sent = sorted(line for body in bodies for line in _split_batch(body, lines))
    assert sent == sorted(lines)
    assert {a.headers["Content-Type"] for a in sink.arrivals} == {"application/cloudevents-batch+json"}
    events = read_run(tmp_path / "run").events
    assert sorted(bytes(k) for k in events["key"]) == sorted(
        correlation_key(json.loads(line)["id"]) for line in lines
    )
    assert set((events["status"] == Status.OK).tolist()) == {True}
    assert (events["sent_ns"] >= events["intended_ns"]).all()
    assert (events["ack_ns"] >= events["sent_ns"]).all()


def _split_batch(body: bytes, lines: list[bytes]) -> list[bytes]:
    """The lines a batch body is made of (checked against the known lines: the body is their join)."""
    inner = body[1:-1]
    decoded = json.loads(body)
    out = [json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() for e in decoded]
    known = set(lines)
    assert b",".join(out) == inner
    assert all(line in known for line in out)
    return out


def test_structured_replay_keeps_gaps_and_sends_each_line(sink: Any, tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 8)
    out = [json.loads(line) for line in lines]
    for i, event in enumerate(out):
        event["time"] = f"2026-01-01T00:00:00.{i * 40:03d}Z"
    lines = [json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() for e in out]
    log.write_bytes(b"\n".join(lines) + b"\n")
    assert _fast_count(log) == 8
    summary = _replay(tmp_path, sink.url, log, mode="structured", size=1, speed=1.0)
    assert summary.ok == 8
    assert [a.body for a in sink.arrivals] == lines
    intended = np.sort(read_run(tmp_path / "run").events["intended_ns"])
    assert np.diff(intended).tolist() == [40_000_000] * 7
    gaps_ms = np.diff([a.at_ns for a in sink.arrivals])[1:] / 1e6
    assert gaps_ms == pytest.approx([40] * 6, abs=6)


def test_timed_batches_leave_full_or_after_the_linger(sink: Any, tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    _generated(log, 50)
    summary = _replay(tmp_path, sink.url, log, size=20, rate=1000.0)
    assert summary.ok == 50
    sizes = [len(json.loads(a.body)) for a in sink.arrivals]
    assert sum(sizes) == 50
    assert sizes == [20, 20, 10]  # 1 ms apart: full at 20, the rest at the end of the block
    events = read_run(tmp_path / "run").events
    intended = np.sort(events["intended_ns"])
    assert np.diff(intended) / 1e6 == pytest.approx(np.ones(49), abs=0.001)


def test_timed_partial_batches_leave_after_the_linger(sink: Any, tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    _generated(log, 12)
    _replay(tmp_path, sink.url, log, size=100, rate=40.0)  # 25 ms apart, linger 50 ms: pairs and triples
    sizes = [len(json.loads(a.body)) for a in sink.arrivals]
    assert sum(sizes) == 12
    assert max(sizes) <= 3


def test_full_in_flight_cap_drops_batches_with_the_reason(sink: Any, tmp_path: Path) -> None:
    sink.behaviour = lambda number: (202, {}, 0.3)
    log = tmp_path / "gen.jsonl"
    _generated(log, 60)
    summary = _replay(tmp_path, sink.url, log, size=10, cap=1, rate=2000.0)
    assert summary.scheduled == 60 == summary.ok + summary.failed + summary.dropped + summary.aborted
    assert summary.ok == 10
    assert summary.dropped == 50
    events = read_run(tmp_path / "run").events
    dropped = events[events["status"] == Status.DROPPED]
    assert set(dropped["reason"].tolist()) == {Reason.MAX_IN_FLIGHT}
    assert (dropped["sent_ns"] == 0).all()


def test_failures_and_types_are_recorded_per_event(sink: Any, tmp_path: Path) -> None:
    sink.behaviour = lambda number: (503 if number % 2 else 202, {}, 0.0)
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 40)
    summary = _replay(tmp_path, sink.url, log, size=10, cap=1, as_fast_as_possible=True)
    assert summary.ok == 20
    assert summary.failed == 20
    run_log = read_run(tmp_path / "run")
    events = run_log.events
    failed = events[events["status"] == Status.FAILED]
    assert set(failed["http_status"].tolist()) == {503}
    names = run_log.type_names[events["type"]]
    by_key = {correlation_key(json.loads(line)["id"]): json.loads(line) for line in lines}
    for key, name, version in zip(events["key"], names, events["schema_version"], strict=True):
        event = by_key[bytes(key)]
        assert name == event["type"]
        assert version == int(event["dataschema"].rsplit(":", 1)[1])


def test_file_target_gets_the_lines(tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    lines = _generated(log, 30)
    out = tmp_path / "out.jsonl"
    summary = _replay(tmp_path, f"file:{out}", log, size=7, as_fast_as_possible=True)
    assert summary.ok == 30
    assert out.read_bytes().splitlines() == lines


def test_stopping_mid_run_accounts_for_every_taken_event(sink: Any, tmp_path: Path) -> None:
    log = tmp_path / "gen.jsonl"
    _generated(log, 400)
    spec = RunSpec(
        plan=ReplayPlan(log, rate=1000.0, chunk_bytes=20_000),
        target=TargetOptions(sink.url, mode="batch", batch_size=10),
        dispatch=DispatchOptions(batch_size=10, grace_s=1.0),
        run_dir=tmp_path / "run",
    )
    original = dispatcher_module.Dispatcher.run

    async def run_and_stop(self: Any) -> Any:
        # stop from inside the loop, 0.2 s after time zero (not from a thread, and not timed from
        # before the set-up, which takes longer than that on a loaded machine)
        loop = asyncio.get_running_loop()
        loop.call_later(0.2 + START_LEAD_NS / 1e9, self.stop)
        return await original(self)

    dispatcher_module.Dispatcher.run = run_and_stop  # type: ignore[method-assign]
    try:
        summary = run(spec)
    finally:
        dispatcher_module.Dispatcher.run = original  # type: ignore[method-assign]
    assert summary.interrupted
    assert summary.scheduled == summary.ok + summary.failed + summary.dropped + summary.aborted
    assert 0 < summary.ok < 400
    assert summary.aborted > 0
    events = read_run(tmp_path / "run").events
    assert len(events) == summary.scheduled
    assert len({bytes(k) for k in events["key"]}) == len(events)
    aborted = events[events["reason"] == Reason.CANCELLED]
    assert (aborted["intended_ns"] > 0).all()
