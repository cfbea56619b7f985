"""The open-model dispatcher against a real HTTP server on 127.0.0.1 (the `sink` fixture)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evtool.errors import TargetError
from evtool.events.envelope import CloudEvent, dataschema_uri
from evtool.load.dispatcher import DispatchOptions
from evtool.load.live import Snapshot
from evtool.load.plan import ArrivalSpec, GeneratedPlan, ReplayPlan
from evtool.load.runner import RunSpec, RunSummary, run
from evtool.load.targets.base import Header, TargetOptions
from evtool.results.runlog import Reason, Status, correlation_key, read_run


def make_events(shard: int = 0, workers: int = 1) -> Iterator[CloudEvent]:
    """Small deterministic events: ids `evt-<shard>-<n>`, order ids `o-<shard>-<n>`."""
    number = 0
    while True:
        yield CloudEvent(
            id=f"evt-{shard}-{number}",
            source="/tests",
            type="commerce.order.placed",
            time="2026-01-01T00:00:00Z",
            data={"order_id": f"o-{shard}-{number}", "amount": number},
            dataschema=dataschema_uri("commerce.order.placed", 2),
        )
        number += 1


def _run(
    tmp_path: Path,
    url: str,
    arrival: ArrivalSpec,
    *,
    target: dict[str, Any] | None = None,
    dispatch: dict[str, Any] | None = None,
    correlate_by: str | None = None,
    snapshots: list[Snapshot] | None = None,
    client: str = "aiohttp",
) -> RunSummary:
    spec = RunSpec(
        plan=GeneratedPlan(arrival, make_events, correlate_by, structured_ids=False),  # wire checks pin ids
        target=TargetOptions(url, client=client, **(target or {})),  # type: ignore[arg-type]
        dispatch=DispatchOptions(**(dispatch or {})),
        run_dir=tmp_path / "run",
        planned_duration_s=arrival.planned_duration_s,
    )
    return run(spec, on_snapshot=None if snapshots is None else snapshots.append)


@pytest.fixture(params=["aiohttp", "lean"])
def client(request: pytest.FixtureRequest) -> str:
    """Both HTTP clients must behave the same on the wire and in the log."""
    return str(request.param)


def _adds_up(summary: RunSummary) -> None:
    assert summary.scheduled == summary.ok + summary.failed + summary.dropped + summary.aborted


def test_rate_is_accurate_and_evenly_spaced(sink: Any, tmp_path: Path, client: str) -> None:
    snapshots: list[Snapshot] = []
    summary = _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=200, duration_s=2),
        snapshots=snapshots,
        client=client,
    )
    assert summary.scheduled == summary.ok == 400
    assert sink.count() == 400
    arrived = np.array([a.at_ns for a in sink.arrivals])
    assert np.diff(arrived).mean() / 1e6 == pytest.approx(5.0, rel=0.02)
    # evenly spaced: 20 sends a 100 ms window by the sender's own clock, never a burst; at the
    # server too, looser (the sink is a thread of this process: on a loaded box it is scheduled late)
    log = read_run(tmp_path / "run")
    sent = np.sort(log.events["sent_ns"])
    sent_windows = np.bincount(((sent - sent.min()) // 100_000_000).astype(int))[:-1]
    assert len(sent_windows) >= 19
    assert np.abs(sent_windows - 20).max() <= 4
    windows = np.bincount(((arrived - arrived.min()) // 100_000_000).astype(int))[:-1]
    assert len(windows) >= 19
    assert np.abs(windows - 20).max() <= 12
    assert summary.achieved_rate == pytest.approx(200, rel=0.02)
    assert summary.lag_p99_ms is not None
    assert summary.lag_p99_ms < 10
    assert (log.events["status"] == Status.OK).all()
    assert (log.events["http_status"] == 202).all()
    intended = np.sort(log.events["intended_ns"])
    assert set(np.diff(intended).tolist()) <= {4_999_999, 5_000_000, 5_000_001}
    assert log.types == ["commerce.order.placed"]
    assert (log.events["schema_version"] == 2).all()
    assert correlation_key("evt-0-0") in {bytes(k) for k in log.events["key"]}
    assert snapshots
    assert snapshots[-1].finished
    assert snapshots[-1].acked == 400


def test_slow_target_does_not_slow_the_schedule(sink: Any, tmp_path: Path) -> None:
    sink.behaviour = lambda n: (202, {}, 0.5)
    summary = _run(tmp_path, sink.url, ArrivalSpec("constant", rate=100, duration_s=1))
    assert summary.ok == 100
    starts = np.array([a.at_ns for a in sink.arrivals])
    assert (starts.max() - starts.min()) / 1e9 == pytest.approx(0.99, abs=0.05)
    acks = read_run(tmp_path / "run").events
    latency_ms = (acks["ack_ns"] - acks["intended_ns"]) / 1e6
    assert latency_ms.min() > 490  # measured from the intended time, so the slowness shows


def test_in_flight_cap_drops_with_reason(sink: Any, tmp_path: Path, client: str) -> None:
    sink.behaviour = lambda n: (202, {}, 0.5)
    summary = _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=200, duration_s=1),
        dispatch={"max_in_flight": 20},
        client=client,
    )
    _adds_up(summary)
    assert summary.scheduled == 200
    assert summary.dropped > 100
    assert summary.ok == sink.count()
    events = read_run(tmp_path / "run").events
    dropped = events[events["status"] == Status.DROPPED]
    assert (dropped["reason"] == Reason.MAX_IN_FLIGHT).all()
    assert (dropped["sent_ns"] == 0).all()
    sent = events[events["sent_ns"] > 0]
    # never held back until a slot frees (that would be ~500 ms here), only dropped; the sink shares our GIL
    assert ((sent["sent_ns"] - sent["intended_ns"]) < 100_000_000).all()


def test_binary_mode_follows_the_http_binding(sink: Any, tmp_path: Path, client: str) -> None:
    _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=500, count=5),
        target={"mode": "binary"},
        client=client,
    )
    first = next(a for a in sink.arrivals if a.headers.get("ce-id") == "evt-0-0")
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == "evt-0-0"
    assert headers["ce-type"] == "commerce.order.placed"
    assert headers["ce-source"] == "/tests"
    assert headers["ce-dataschema"] == "urn:evtool:schema:commerce.order.placed:2"
    assert headers["content-type"].startswith("application/json")
    assert json.loads(first.body) == {"order_id": "o-0-0", "amount": 0}


def test_structured_mode(sink: Any, tmp_path: Path, client: str) -> None:
    _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=500, count=3),
        target={"mode": "structured"},
        client=client,
    )
    first = next(a for a in sink.arrivals if json.loads(a.body)["id"] == "evt-0-0")
    assert first.headers["Content-Type"].startswith("application/cloudevents+json")
    body = json.loads(first.body)
    assert body["id"] == "evt-0-0"
    assert body["specversion"] == "1.0"
    assert body["data"]["order_id"] == "o-0-0"


def test_batch_mode_sends_arrays(sink: Any, tmp_path: Path, client: str) -> None:
    summary = _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=1000, count=25),
        target={"mode": "batch", "batch_size": 10},
        dispatch={"batch_size": 10},
        client=client,
    )
    assert summary.ok == 25
    assert all(
        a.headers["Content-Type"].startswith("application/cloudevents-batch+json") for a in sink.arrivals
    )
    batches = sorted(
        (json.loads(a.body) for a in sink.arrivals), key=lambda b: int(b[0]["id"].rsplit("-")[-1])
    )
    assert [len(b) for b in batches] == [10, 10, 5]
    ids = [e["id"] for b in batches for e in b]
    assert ids == [f"evt-0-{i}" for i in range(25)]


def test_headers_and_env_secret_reach_the_server(
    sink: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv("EVTOOL_TEST_TOKEN", "s3cr3t-value")
    headers = (Header("Authorization", "env:EVTOOL_TEST_TOKEN"), Header("X-Tenant", "acme"))
    _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=100, count=2),
        target={"headers": headers},
        client=client,
    )
    assert sink.arrivals[0].headers["Authorization"] == "s3cr3t-value"
    assert sink.arrivals[0].headers["X-Tenant"] == "acme"
    for path in (tmp_path / "run").iterdir():
        assert b"s3cr3t-value" not in path.read_bytes(), path


def test_non_2xx_is_failed_with_its_code(sink: Any, tmp_path: Path, client: str) -> None:
    sink.behaviour = lambda n: (500 if n % 2 else 202, {}, 0.0)
    summary = _run(tmp_path, sink.url, ArrivalSpec("constant", rate=200, count=10), client=client)
    assert (summary.ok, summary.failed) == (5, 5)
    events = read_run(tmp_path / "run").events
    failed = events[events["status"] == Status.FAILED]
    assert (failed["http_status"] == 500).all()
    assert (failed["reason"] == Reason.HTTP_STATUS).all()
    assert (failed["ack_ns"] == 0).all()
    assert (failed["sent_ns"] > 0).all()


def test_retries_honour_retry_after(sink: Any, tmp_path: Path, client: str) -> None:
    sink.behaviour = lambda n: (503, {"Retry-After": "1"}, 0.0) if n == 0 else (202, {}, 0.0)
    summary = _run(
        tmp_path, sink.url, ArrivalSpec("constant", rate=10, count=1), target={"retries": 2}, client=client
    )
    assert summary.ok == 1
    assert sink.count() == 2
    gap_s = (sink.arrivals[1].at_ns - sink.arrivals[0].at_ns) / 1e9
    assert 0.95 < gap_s < 1.5
    event = read_run(tmp_path / "run").events[0]
    assert event["attempts"] == 2
    assert event["http_status"] == 202


def test_retries_give_up_and_count_attempts(sink: Any, tmp_path: Path, client: str) -> None:
    sink.behaviour = lambda n: (429, {"Retry-After": "0"}, 0.0)
    summary = _run(
        tmp_path, sink.url, ArrivalSpec("constant", rate=10, count=1), target={"retries": 3}, client=client
    )
    assert summary.failed == 1
    assert sink.count() == 4
    event = read_run(tmp_path / "run").events[0]
    assert event["attempts"] == 4
    assert event["http_status"] == 429


def test_timeouts_are_failures_of_their_kind(sink: Any, tmp_path: Path, client: str) -> None:
    sink.behaviour = lambda n: (202, {}, 1.0)
    summary = _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=100, count=3),
        target={"timeout_s": 0.2},
        client=client,
    )
    assert summary.failed == 3
    assert (read_run(tmp_path / "run").events["reason"] == Reason.TIMEOUT).all()


def test_unreachable_target_is_a_target_error(tmp_path: Path, client: str) -> None:
    with pytest.raises(TargetError, match="cannot connect") as info:
        _run(tmp_path, "http://127.0.0.1:9/events", ArrivalSpec("constant", rate=10, count=1), client=client)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_server_dying_mid_run_is_recorded(sink: Any, tmp_path: Path, client: str) -> None:
    stop_after = threading.Event()

    def behaviour(n: int) -> tuple[int, dict[str, str], float]:
        if n == 20:
            stop_after.set()
        return 202, {}, 0.0

    sink.behaviour = behaviour
    killer = threading.Thread(target=lambda: stop_after.wait(5) and sink_stop(sink), daemon=True)
    killer.start()
    summary = _run(
        tmp_path,
        sink.url,
        ArrivalSpec("constant", rate=100, count=60),
        target={"timeout_s": 1},
        client=client,
    )
    _adds_up(summary)
    assert summary.scheduled == 60
    assert 15 <= summary.ok <= 40
    events = read_run(tmp_path / "run").events
    failed = events[events["status"] == Status.FAILED]
    assert len(failed) >= 15
    assert set(failed["reason"].tolist()) <= {Reason.CONNECT, Reason.PROTOCOL}


def sink_stop(sink: Any) -> bool:
    sink.stop()
    return True


def _write_log(path: Path, offsets_ms: list[int]) -> None:
    lines = []
    for i, ms in enumerate(offsets_ms):
        when = f"2026-01-01T00:00:{ms // 1000:02d}.{ms % 1000:03d}Z"
        lines.append(
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": f"r-{i}",
                    "source": "/rec",
                    "type": "t.x",
                    "time": when,
                    "datacontenttype": "application/json",
                    "data": {"n": i},
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("speed", "scale"), [(1.0, 1.0), (10.0, 0.1)])
def test_replay_keeps_gaps(sink: Any, tmp_path: Path, speed: float, scale: float) -> None:
    log = tmp_path / "rec.jsonl"
    _write_log(log, [0, 200, 600, 1200, 2000])
    spec = RunSpec(
        plan=ReplayPlan(log, speed=speed),
        target=TargetOptions(sink.url, mode="structured"),
        run_dir=tmp_path / "run",
    )
    summary = run(spec)
    assert summary.ok == 5
    expected = np.array([200, 400, 600, 800]) * scale
    events = read_run(tmp_path / "run").events
    intended = np.sort(events["intended_ns"])
    assert np.diff(intended) / 1e6 == pytest.approx(expected, abs=0.001)
    # (a send may be late by the box's scheduling noise; a replay that ignored the gaps is off by 200+ ms)
    assert np.diff(np.sort(events["sent_ns"])) / 1e6 == pytest.approx(expected, abs=15)
    # server side, looser (a thread of this process); the first request also opens the
    # connection, so its gap is left out
    gaps_ms = np.diff([a.at_ns for a in sink.arrivals]) / 1e6
    assert gaps_ms[1:] == pytest.approx(expected[1:], abs=25)
    assert [json.loads(a.body)["id"] for a in sink.arrivals] == [f"r-{i}" for i in range(5)]


def test_replay_as_fast_as_possible_respects_the_cap(sink: Any, tmp_path: Path) -> None:
    log = tmp_path / "rec.jsonl"
    _write_log(log, [0, 1000, 2000, 3000] * 50)
    spec = RunSpec(
        plan=ReplayPlan(log, as_fast_as_possible=True),
        target=TargetOptions(sink.url, max_in_flight=4),
        dispatch=DispatchOptions(max_in_flight=4, as_fast_as_possible=True),
        run_dir=tmp_path / "run",
    )
    summary = run(spec)
    assert summary.ok == sink.count() == 200
    assert summary.dropped == 0


def test_two_workers_write_two_shards_read_as_one_run(sink: Any, tmp_path: Path) -> None:
    log = tmp_path / "rec.jsonl"
    _write_log(log, list(range(300)))
    spec = RunSpec(
        plan=ReplayPlan(log, rate=300.0),
        target=TargetOptions(sink.url),
        workers=2,
        run_dir=tmp_path / "run",
    )
    summary = run(spec)
    assert summary.ok == sink.count() == 300
    assert sorted(p.name for p in (tmp_path / "run").glob("events-*.bin")) == ["events-0.bin", "events-1.bin"]
    log_read = read_run(tmp_path / "run")
    assert len(log_read.events) == 300
    assert log_read.meta.workers == 2
    intended = np.sort(log_read.events["intended_ns"])
    assert np.diff(intended).mean() / 1e6 == pytest.approx(1000 / 300, rel=0.01)
    assert summary.achieved_rate == pytest.approx(300, rel=0.05)


def test_file_target_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = _run(tmp_path, f"file:{out}", ArrivalSpec("constant", rate=1000, count=50))
    assert summary.ok == 50
    lines = out.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"evt-0-{i}" for i in range(50)]


def test_correlate_by_field_path_keys_records(sink: Any, tmp_path: Path) -> None:
    _run(tmp_path, sink.url, ArrivalSpec("constant", rate=500, count=3), correlate_by="data.order_id")
    keys = {bytes(k) for k in read_run(tmp_path / "run").events["key"]}
    assert keys == {correlation_key(f"o-0-{i}") for i in range(3)}


def test_replay_reads_avro_logs(tmp_path: Path) -> None:
    from evtool.events.codecs import write_avro
    from evtool.load.source import GeneratedEvents

    stream = GeneratedEvents(mix="order=1", seed=3).stream()
    events = [event for _, event in zip(range(30), stream, strict=False)]
    log = tmp_path / "rec.avro"
    with log.open("wb") as out:
        write_avro(events, out, stream.catalog)
    out_file = tmp_path / "out.jsonl"
    spec = RunSpec(
        plan=ReplayPlan(log, speed=1000.0),
        target=TargetOptions(f"file:{out_file}"),
        run_dir=tmp_path / "run",
    )
    assert run(spec).ok == 30
    sent = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [e["id"] for e in sent] == [e.id for e in events]
    assert sent[0]["data"]["order_id"] == events[0].data["order_id"]
    ref = events[0].schema_ref
    assert ref is not None
    assert set(read_run(tmp_path / "run").events["schema_version"].tolist()) == {ref[1]}
