"""Plain output outside a terminal is complete at any width (issue 11 item 8): CI logs, pipes, 40 to
200 columns. Tables degrade to one line per row, never to ellipses; a value is never split from its
unit; every failure reason is named (item 9, against a real server answering 501)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from tests.results.runfixtures import Ev, write_run
from tests.support.cli import installed_evtool, invoke
from tests.support.http_servers import status_sink

from evtool.results.report import fmt_latency
from evtool.results.runlog import Reason, Status

WIDTHS = (40, 80, 200)
LONG_TYPE = "support.complaint.filed.escalated-to-second-line"
UNIT_SPLIT = re.compile(r"\d\n\s*(ms|s|µs)\b")


def _report_run(tmp_path: Path) -> Path:
    events = [Ev(f"o{i}", i * 20, result_ms=[i * 20 + 150 + i % 7], event_type="commerce.order.placed")
              for i in range(60)]
    events += [Ev(f"c{i}", i * 20 + 5, result_ms=[i * 20 + 2600], event_type=LONG_TYPE, version=3)
               for i in range(30)]
    events += [Ev(f"f{i}", 1300 + i, status=Status.FAILED, reason=Reason.HTTP_STATUS, http_status=501,
                  event_type=LONG_TYPE, version=3) for i in range(4)]
    return write_run(tmp_path / "run", events, timeout_ms=5000)


def _assert_complete(text: str, doc: dict[str, object]) -> None:
    """No ellipsis, no unit wrapped off its number, and every value of the JSON document in the text."""
    assert "…" not in text, text
    assert "..." not in text, text
    assert not UNIT_SPLIT.search(text), text
    assert LONG_TYPE in text
    for line in text.splitlines():
        assert not re.match(r"\s*(ms|s)\b", line), line
    latency = doc["latency_ms"]
    assert isinstance(latency, dict)
    for name in ("p50", "p90", "p99", "p99.9", "max"):
        assert fmt_latency(latency["end_to_end"], name) in text, name
    assert "failed 4: HTTP 501" in text.splitlines()
    assert "configuration:" in text


def _tokens(text: str) -> set[str]:
    """The words of a view; a row's label ends in ':' as a line, and the first column's header
    ("type", "stage") is the line's label itself there."""
    return {t.rstrip(":") for t in text.split()} - {"type", "stage", "·"}


@pytest.mark.parametrize("width", WIDTHS)
def test_latency_report_text_is_complete_at_any_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      width: int) -> None:
    run_dir = _report_run(tmp_path)
    monkeypatch.setenv("COLUMNS", str(width))
    doc = json.loads(invoke(["latency-report", str(run_dir), "--format", "json"]).stdout)
    text = invoke(["latency-report", str(run_dir)]).stdout
    _assert_complete(text, doc)
    monkeypatch.setenv("COLUMNS", "200")
    wide = invoke(["latency-report", str(run_dir)]).stdout
    assert _tokens(wide) <= _tokens(text)  # what the wide view says, the narrow one says too
    if width < 200:  # the per-type table did not fit: one line per type, its values named
        row = next(line for line in text.splitlines() if line.strip().startswith(LONG_TYPE))
        assert "v 3 · events 34 · results 30 · failed 4" in row, row


def test_latency_report_in_a_pipe_at_40_columns_is_complete(tmp_path: Path) -> None:
    """The installed command, its stdout a pipe (not a terminal), COLUMNS=40."""
    run_dir = _report_run(tmp_path)
    evtool = installed_evtool()
    env = {"COLUMNS": "40", "PATH": str(Path(evtool).parent), "NO_COLOR": "1"}
    done = subprocess.run([evtool, "latency-report", str(run_dir)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # the lost/late complaints miss the 2 s target
    doc = json.loads(subprocess.run([evtool, "latency-report", str(run_dir), "--format", "json"],
                                    capture_output=True, text=True, env=env, timeout=120, check=False).stdout)
    _assert_complete(done.stdout, doc)
    assert "\x1b[" not in done.stdout  # no colour codes in a pipe
    assert "┃" not in done.stdout
    assert "│" not in done.stdout


def test_simulate_summary_is_complete_at_40_columns_in_a_pipe(tmp_path: Path) -> None:
    """Against a server answering 501: the summary line is whole and the failure reason named."""
    evtool = installed_evtool()
    with status_sink(lambda n: 501) as sink:
        done = subprocess.run([evtool, "simulate", "--target", sink.url, "--rate", "200/s", "--count", "20",
                               "--run-dir", str(tmp_path / "run"), "--seed", "7"],
                              capture_output=True, text=True, timeout=120,
                              env={"COLUMNS": "40", "PATH": str(Path(evtool).parent)}, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("done: scheduled 20 = acked 0 + failed 20 + dropped 0 + aborted 0; achieved ")
    assert "send lag p99" in lines[0]  # one line, however narrow
    assert "failed 20: HTTP 501" in lines
    assert "seed 7 (repeat with --seed 7)" in done.stderr.splitlines()
    assert "…" not in done.stdout + done.stderr


@pytest.mark.parametrize("width", WIDTHS)
def test_simulate_summary_through_cli_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             width: int) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    with status_sink(lambda n: 501 if n % 2 else 202) as sink:
        out = invoke(["simulate", "--target", sink.url, "--rate", "200/s", "--count", "10", "-q",
                      "--run-dir", str(tmp_path / "run")])
    assert out.code == 0, out.all_output
    first = out.stdout.splitlines()[0]
    assert first.startswith("done: scheduled 10 = acked 5 + failed 5"), first
    assert first.endswith(" ms"), first  # the line is whole: it ends with the send lag's unit
    assert "failed 5: HTTP 501" in out.stdout.splitlines()
    assert f"run: {tmp_path / 'run'}" in out.stdout.splitlines()


@pytest.mark.parametrize("width", WIDTHS)
def test_schema_check_and_generate_text_are_whole_lines(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    wide = invoke(["schema", "check"])
    monkeypatch.setenv("COLUMNS", str(width))
    narrow = invoke(["schema", "check"])
    assert narrow.code == wide.code == 0
    assert narrow.stdout == wide.stdout  # never wrapped, never cut
    assert re.search(r"^✓ support\.complaint\.filed BACKWARD_TRANSITIVE owner team-care$|"
                     r"^✓ support\.complaint\.filed \S+", narrow.stdout, re.M), narrow.stdout
    generated = invoke(["generate", "--count", "3", "--seed", "12345678901"])
    assert generated.code == 0
    assert "seed 12345678901 (repeat with --seed 12345678901)" in generated.stderr.splitlines()
    assert len(generated.stdout.splitlines()) == 3  # one whole JSON event a line
    for line in generated.stdout.splitlines():
        json.loads(line)


def test_text_report_written_to_a_file_is_plain_and_whole(tmp_path: Path) -> None:
    """`--output FILE` with the text format: no frame, no colour, no ellipsis, every value."""
    run_dir = _report_run(tmp_path)
    out = tmp_path / "report.txt"
    assert invoke(["latency-report", str(run_dir), "--output", str(out)]).code == 1
    doc = json.loads(invoke(["latency-report", str(run_dir), "--format", "json"]).stdout)
    text = out.read_text(encoding="utf-8")
    _assert_complete(text, doc)
    assert "┃" not in text
    assert "\x1b[" not in text
