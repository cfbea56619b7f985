"""`evtool simulate` and `evtool replay` end to end, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.cli import invoke, spawn
from tests.support.http_servers import RecordingSink, ResultPoster, free_port, serving

from evtool.results.runlog import Reason, Status, read_run


def cli(argv: list[str]) -> int:
    """Run the commands as `evtool` does (tests/support/cli.py `invoke`); their output is written
    here, for capsys."""
    outcome = invoke(argv)
    sys.stdout.write(outcome.stdout)
    sys.stderr.write(outcome.stderr)
    return outcome.code


def _log(path: Path, count: int, gap_ms: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            ms = i * gap_ms
            event = {
                "specversion": "1.0",
                "id": f"e-{i}",
                "source": "/rec",
                "type": "commerce.order.placed",
                "time": f"2026-01-01T00:{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z",
                "datacontenttype": "application/json",
                "dataschema": "urn:evtool:schema:commerce.order.placed:1",
                "data": {"order_id": f"o-{i}"},
            }
            out.write(json.dumps(event) + "\n")
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "fast", "--count", "3"], "--rate"),
        (["--rate", "10/s"], "--duration or --count"),
        (["--rate", "10/s", "--stages", "1s:5/s", "--count", "3"], "not both"),
        (["--stages", "1s", "--count", "3"], "DURATION:RATE"),
        (["--rate", "10/s", "--count", "3", "--content-mode", "carrier-pigeon"], "--content-mode"),
        (["--rate", "10/s", "--count", "3", "-H", "no colon"], "Name: value"),
        (
            ["--rate", "10/s", "--count", "3", "-H", "Authorization: env:EVTOOL_SURELY_UNSET"],
            "EVTOOL_SURELY_UNSET",
        ),
        (["--rate", "10/s", "--count", "3", "--mix", "unicorn=1"], "unicorn"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(
        ["simulate", "--target", "file:" + str(tmp_path / "o.jsonl"), "--run-dir", str(tmp_path / "r"), *args]
    )
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert message in lines[0]
    assert lines[0].startswith("error: ")
    assert len(lines) <= 2  # the error, and at most its hint (the whole app prints them)
    assert all(line.startswith("  hint: ") for line in lines[1:])
    assert not (tmp_path / "r").exists()


def test_unreachable_target_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(
        [
            "simulate",
            "-t",
            "http://127.0.0.1:9/x",
            "--rate",
            "5/s",
            "--count",
            "2",
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    assert "cannot connect to 127.0.0.1:9" in capsys.readouterr().err


def test_simulate_sends_generated_events(
    sink: RecordingSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    code = cli(
        [
            "simulate",
            "-t",
            sink.url,
            "--rate",
            "100/s",
            "--count",
            "50",
            "--seed",
            "5",
            "--mix",
            "order=1",
            "--run-dir",
            str(run_dir),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "scheduled 50 = acked 50 + failed 0 + dropped 0 + aborted 0" in out
    assert f"run: {run_dir}" in out
    assert len(sink.arrivals) == 50
    assert {h["ce-type"] for _, h, _ in sink.arrivals} == {"commerce.order.placed"}
    # generated events carry their intended send time, not the generator's simulated clock
    stamped = sorted(dt.datetime.fromisoformat(h["ce-time"]).timestamp() for _, h, _ in sink.arrivals)
    assert abs(stamped[0] - time.time()) < 30
    assert stamped[-1] - stamped[0] == pytest.approx(0.49, abs=0.01)
    log = read_run(run_dir)
    assert len(log.events) == 50
    assert log.meta.options["seed"] == 5
    assert log.meta.target == sink.url


def test_secrets_are_sent_but_never_written(
    sink: RecordingSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVTOOL_TEST_API_TOKEN", "tok-from-env-123")
    run_dir = tmp_path / "run"
    code = cli(
        [
            "replay",
            str(_log(tmp_path / "rec.jsonl", 3, 10)),
            "-t",
            sink.url,
            "--as-fast-as-possible",
            "-H",
            "Authorization: env:EVTOOL_TEST_API_TOKEN",
            "-H",
            "X-Api-Key: literal-key-456",
            "-H",
            "X-Tenant: acme",
            "--run-dir",
            str(run_dir),
        ]
    )
    output = capsys.readouterr()
    assert code == 0
    headers = sink.arrivals[0][1]
    assert headers["Authorization"] == "tok-from-env-123"
    assert headers["X-Api-Key"] == "literal-key-456"
    for path in run_dir.iterdir():
        data = path.read_bytes()
        assert b"tok-from-env-123" not in data
        assert b"literal-key-456" not in data
    assert "tok-from-env-123" not in output.out + output.err
    meta = json.loads((run_dir / "meta.json").read_text())
    assert "Authorization: env:EVTOOL_TEST_API_TOKEN" in meta["options"]["headers"]
    assert "X-Tenant: ***" in meta["options"]["headers"]  # a literal value may be a secret: never stored


def test_replay_speed_compresses_gaps(sink: RecordingSink, tmp_path: Path) -> None:
    log = _log(tmp_path / "rec.jsonl", 11, 100)  # 1 s of recorded time
    started = time.monotonic()
    code = cli(
        ["replay", str(log), "-t", sink.url, "--speed", "10", "--run-dir", str(tmp_path / "run"), "-q"]
    )
    assert code == 0
    assert time.monotonic() - started < 3
    intended = sorted(read_run(tmp_path / "run").events["intended_ns"].tolist())
    assert [round((b - a) / 1e6, 3) for a, b in itertools.pairwise(intended)] == [10.0] * 10


@pytest.mark.parametrize("workers", ["1", "2"])
def test_replay_batch_as_fast_as_possible_sends_the_recorded_lines(
    sink: RecordingSink, tmp_path: Path, workers: str
) -> None:
    from evtool.events.codecs import write_jsonl
    from evtool.load.source import GeneratedEvents

    log = tmp_path / "gen.jsonl"
    stream = GeneratedEvents(mix="order=70,inventory=30", seed=11).stream()
    with log.open("wb") as out:
        write_jsonl((event for _, event in zip(range(3000), stream, strict=False)), out)
    lines = log.read_bytes().splitlines()
    code = cli(
        [
            "replay",
            str(log),
            "-t",
            sink.url,
            "--as-fast-as-possible",
            "--content-mode",
            "batch",
            "--batch-size",
            "250",
            "--processes",
            workers,
            "--run-dir",
            str(tmp_path / "run"),
            "-q",
        ]
    )
    assert code == 0
    bodies = [body for _, _, body in sink.arrivals]
    assert all(len(json.loads(body)) <= 250 for body in bodies)
    # each body is `[` + recorded lines joined by `,` + `]`: the lines come back out exactly
    sent = [line for body in bodies for line in _lines_of(body, set(lines))]
    assert sorted(sent) == sorted(lines)
    events = read_run(tmp_path / "run").events
    assert len(events) == 3000
    assert set(events["status"].tolist()) == {Status.OK}


def _lines_of(body: bytes, known: set[bytes]) -> list[bytes]:
    """The recorded lines a batch body joins (cut before each event's opening; every piece must be known)."""
    marker = b',{"specversion":"1.0","id":"'
    pieces = body[1:-1].split(marker)
    out = [pieces[0]] + [marker[1:] + piece for piece in pieces[1:]]
    assert all(piece in known for piece in out)
    return out


def test_stages_via_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.jsonl"
    code = cli(
        [
            "simulate",
            "-t",
            f"file:{out}",
            "--stages",
            "500ms:200/s,500ms:200/s",
            "--mix",
            "order=1",
            "--run-dir",
            str(tmp_path / "run"),
            "-q",
        ]
    )
    assert code == 0
    assert len(out.read_text().splitlines()) == 150  # 50 on the ramp + 100 at 200/s
    assert "scheduled 150 = acked 150" in capsys.readouterr().out


def test_ctrl_c_leaves_a_readable_log_and_exits_130(sink: RecordingSink, tmp_path: Path) -> None:
    log = _log(tmp_path / "rec.jsonl", 5000, 1)
    run_dir = tmp_path / "run"
    process = spawn(["replay", str(log), "-t", sink.url, "--rate", "200/s", "--run-dir", str(run_dir),
                     "--grace", "1s"])
    deadline = time.monotonic() + 20
    while not (run_dir / "meta.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert "interrupted: scheduled" in out
    run = read_run(run_dir)
    assert run.meta.interrupted
    assert run.meta.ended_at is not None
    assert run.skipped_bytes == 0
    events = run.events
    assert 100 < len(events) < 1000
    statuses = set(events["status"].tolist())
    assert statuses <= {Status.OK, Status.FAILED, Status.DROPPED}
    cancelled = events[events["status"] != Status.OK]
    assert set(cancelled["reason"].tolist()) <= {Reason.CANCELLED}
    assert len(sink.arrivals) == int((events["status"] == Status.OK).sum())


def test_collector_option_without_port_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(
        [
            "simulate",
            "-t",
            "-",
            "--rate",
            "5/s",
            "--count",
            "1",
            "--collect",
            "nowhere",
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    assert "HOST:PORT" in capsys.readouterr().err


@pytest.fixture
def consumer() -> Iterator[tuple[ResultPoster, int]]:
    """A system under test: accepts events, then POSTs a result naming each to the collector port."""
    collector_port = free_port()
    with serving(ResultPoster(f"http://127.0.0.1:{collector_port}/results", delay_s=0.05)) as poster:
        yield poster, collector_port


def test_collect_records_downstream_results(consumer: tuple[ResultPoster, int], tmp_path: Path) -> None:
    sink, port = consumer
    run_dir = tmp_path / "run"
    code = cli(
        [
            "replay",
            str(_log(tmp_path / "rec.jsonl", 20, 10)),
            "-t",
            sink.url,
            "--rate",
            "100/s",
            "--collect",
            f"127.0.0.1:{port}",
            "--result-timeout",
            "3s",
            "--run-dir",
            str(run_dir),
            "-q",
        ]
    )
    assert code == 0
    run = read_run(run_dir)
    assert run.meta.collector == f"127.0.0.1:{port}"
    assert len(run.results) == 20
    assert {bytes(k) for k in run.results["key"]} == {bytes(k) for k in run.events["key"]}
    assert (np.sort(run.results["received_ns"]) > np.sort(run.events["ack_ns"])).all()
