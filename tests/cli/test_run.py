"""`evtool run SCENARIO` / `simulate --scenario`, and `--slo` / `--summary-export` on simulate and replay,
in this process (tests/support/cli.py `invoke`) against real servers on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import Outcome, invoke
from tests.support.http_servers import RecordingSink, ResultPoster, free_port, serving, status_sink

from evtool.errors import ExitCode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def meta(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "meta.json").read_text())
    return data


def report_json(run_dir: Path, *slos: str) -> dict[str, Any]:
    args = ["latency-report", str(run_dir), "--format", "json"]
    for slo in slos:
        args += ["--slo", slo]
    outcome = invoke(args)
    assert outcome.code in (0, 1), outcome.all_output
    data: dict[str, Any] = json.loads(outcome.stdout)
    return data


def test_http_example_runs_with_collector_objectives_and_overrides(tmp_path: Path) -> None:
    """The shipped HTTP example against a service that posts results: its objectives gate the exit
    code, the summary is latency-report's JSON, the scenario and its hash are in meta.json."""
    port = free_port()
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    with serving(ResultPoster(f"http://127.0.0.1:{port}/results", delay_s=0.05)) as poster:
        outcome = invoke(["run", str(EXAMPLES / "http-orders.toml"), "--target", poster.url,
                          "--collect", f"127.0.0.1:{port}", "--duration", "2s", "--result-timeout", "5s",
                          "--run-dir", str(run_dir), "--summary-export", str(summary), "-q"])
    assert outcome.code == ExitCode.OK, outcome.all_output
    assert poster.received == 200  # the file's rate (100/s) for the command line's duration
    assert "verdict: PASS" in outcome.stdout
    recorded = meta(run_dir)
    assert (f"scenario: {EXAMPLES / 'http-orders.toml'} sha256 {recorded['scenario']['sha256'][:12]} "
            "(the command line overrode arrival.duration, collector.address, collector.result_timeout, "
            "target.url)") in outcome.stdout
    scenario = recorded["scenario"]
    assert scenario["path"] == str(EXAMPLES / "http-orders.toml")
    assert len(scenario["sha256"]) == 64
    assert scenario["overridden"]["target.url"] == {
        "scenario": "http://127.0.0.1:8080/events", "command_line": poster.url, "won": "command line"}
    assert scenario["overridden"]["arrival.duration"]["scenario"] == "10s"
    assert scenario["sources"]["arrival.rate"] == "scenario"
    assert scenario["resolved"]["arrival"] == {"duration": "2s", "process": "constant", "rate": "100/s"}
    assert recorded["options"]["seed"] == 42  # the file's seed
    assert recorded["options"]["slo"] == ["p99<=2s", "within(2s)>=99%", "lost<=0"]
    exported = json.loads(summary.read_text())
    assert exported == report_json(run_dir, "p99<=2s", "within(2s)>=99%", "lost<=0")
    assert exported["verdict"] == "PASS"
    assert exported["counts"]["matched_results"] == 200


def test_simulate_scenario_is_the_same_as_run(tmp_path: Path, sink: RecordingSink) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[target]\nurl = "{sink.url}"\n[arrival]\nrate = "50/s"\ncount = 5\n'
                    '[events]\nseed = 3\n')
    first = invoke(["simulate", "--scenario", str(path), "--run-dir", str(tmp_path / "a"), "-q"])
    second = invoke(["run", "--run-dir", str(tmp_path / "b"), str(path), "-q"])  # options before the file
    assert first.code == second.code == ExitCode.OK, first.all_output + second.all_output
    assert sink.count() == 10
    assert meta(tmp_path / "a")["scenario"]["sha256"] == meta(tmp_path / "b")["scenario"]["sha256"]
    # the file's seed: the same events (their payload times follow each one's send time, so differ)
    times = re.compile(rb'"\d{4}-\d\d-\d\dT[^"]*"|(?<=:)\d{13}\b')  # ISO text and epoch milliseconds
    bodies = [times.sub(b"<time>", arrival.body) for arrival in sink.arrivals]
    assert bodies[:5] == bodies[5:]


def one_line_error(outcome: Outcome) -> str:
    assert outcome.code == ExitCode.USAGE, outcome.all_output
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert "Traceback" not in outcome.all_output
    return lines[0]


def test_bad_scenario_is_one_line_exit_2_and_sends_nothing(tmp_path: Path, sink: RecordingSink) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[target]\nurl = "{sink.url}"\n[arrival]\nrate = "50/s"\ncuont = 5\n')
    line = one_line_error(invoke(["run", str(path)]))
    assert line == f"error: {path}:5: arrival.cuont: unknown key — did you mean 'count'?"
    assert sink.count() == 0


def test_catalogue_errors_point_at_the_scenario_key(tmp_path: Path, sink: RecordingSink) -> None:
    """A mix type the catalogue lacks is found only when the events are made: still the file's line."""
    path = tmp_path / "s.toml"
    path.write_text(f'[target]\nurl = "{sink.url}"\n[arrival]\nrate = "50/s"\ncount = 5\n\n[events]\n'
                    'mix = "no.such.type=1"\n')
    line = one_line_error(invoke(["run", str(path)]))
    assert line.startswith(f"error: {path}:8: events.mix: "), line
    assert "no.such.type" in line
    assert sink.count() == 0
    # the same mistake given on the command line is the option's error, not the file's
    outcome = invoke(["run", str(path), "--mix", "other.type=1"])
    assert outcome.code == ExitCode.USAGE
    assert "other.type" in outcome.stderr
    assert str(path) not in outcome.stderr


def test_run_needs_a_scenario_and_simulate_a_target(tmp_path: Path) -> None:
    assert "give a scenario file" in invoke(["run", "--rate", "5/s"]).stderr
    path = tmp_path / "s.toml"
    path.write_text('[arrival]\nrate = "50/s"\ncount = 5\n')
    assert "or a --scenario file with [target] url" in one_line_error(invoke(["run", str(path)]))


def test_secret_header_from_env_is_sent_and_never_written(
    tmp_path: Path, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-token-value-91f2"
    monkeypatch.setenv("SCENARIO_TEST_TOKEN", secret)
    path = tmp_path / "s.toml"
    path.write_text(f'[target]\nurl = "{sink.url}"\n'
                    '[target.headers]\nAuthorization = "env:SCENARIO_TEST_TOKEN"\n'
                    '[arrival]\nrate = "50/s"\ncount = 3\n')
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    outcome = invoke(["run", str(path), "--run-dir", str(run_dir), "--summary-export", str(summary),
                      "--slo", "failed<=0"])
    assert outcome.code == ExitCode.OK, outcome.all_output
    assert [a.headers["Authorization"] for a in sink.arrivals] == [secret] * 3
    assert secret not in outcome.all_output
    for written in [*run_dir.iterdir(), summary]:
        assert secret.encode() not in written.read_bytes(), written
    headers = meta(run_dir)["scenario"]["resolved"]["target"]["headers"]
    assert headers == ["Authorization: env:SCENARIO_TEST_TOKEN"]


def test_slo_gates_simulate_exit_code_and_summary_is_written_when_it_fails(tmp_path: Path) -> None:
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    with status_sink(lambda n: 501 if n % 2 else 202) as sink:
        outcome = invoke(["simulate", "-t", sink.url, "--rate", "50/s", "--count", "10", "--run-dir",
                          str(run_dir), "--slo", "failed<=0", "--slo", "p99<=2s", "--summary-export",
                          str(summary), "-q"])
    assert outcome.code == ExitCode.CHECK_FAILED, outcome.all_output
    assert "verdict: FAIL" in outcome.stdout
    assert "failed<=0: MISSED (5)" in outcome.stdout
    exported = json.loads(summary.read_text())
    assert exported == report_json(run_dir, "failed<=0", "p99<=2s")
    assert exported["exit_code"] == 1
    assert not list(tmp_path.glob(".summary.json*"))  # written through a temporary file, which is gone


def test_summary_export_alone_does_not_change_the_exit_code(tmp_path: Path) -> None:
    """Without --slo the run still exits 0 (the default objectives are only reported)."""
    with status_sink(lambda n: 501) as sink:
        outcome = invoke(["simulate", "-t", sink.url, "--rate", "50/s", "--count", "4", "--run-dir",
                          str(tmp_path / "run"), "--summary-export", str(tmp_path / "s.json"), "-q"])
    assert outcome.code == ExitCode.OK, outcome.all_output
    exported = json.loads((tmp_path / "s.json").read_text())
    assert exported["verdict"] == "FAIL"
    assert exported["objectives"]["default"] is True


def test_command_line_slo_replaces_the_files_objectives(tmp_path: Path, sink: RecordingSink) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'[target]\nurl = "{sink.url}"\n[arrival]\nrate = "50/s"\ncount = 3\n'
                    '[objectives]\nslo = ["aborted>=1"]\n')  # cannot hold: nothing is aborted
    assert invoke(["run", str(path), "--run-dir", str(tmp_path / "a"), "-q"]).code == ExitCode.CHECK_FAILED
    passed = invoke(["run", str(path), "--run-dir", str(tmp_path / "b"), "-q", "--slo", "failed<=0"])
    assert passed.code == ExitCode.OK, passed.all_output
    assert meta(tmp_path / "b")["scenario"]["overridden"]["objectives.slo"]["scenario"] == ["aborted>=1"]


def test_bad_slo_and_unwritable_summary_fail_before_anything_is_sent(
    tmp_path: Path, sink: RecordingSink
) -> None:
    base = ["simulate", "-t", sink.url, "--rate", "50/s", "--count", "3", "-q"]
    outcome = invoke([*base, "--slo", "p99 fast", "--run-dir", str(tmp_path / "a")])
    assert outcome.code == ExitCode.USAGE
    assert "bad --slo 'p99 fast'" in outcome.stderr
    missing = tmp_path / "no" / "s.json"
    outcome = invoke([*base, "--summary-export", str(missing), "--run-dir", str(tmp_path / "b")])
    assert outcome.code == ExitCode.USAGE
    assert "--summary-export" in outcome.stderr
    assert sink.count() == 0


def test_replay_takes_slo_and_summary_export(tmp_path: Path, sink: RecordingSink) -> None:
    log = tmp_path / "events.jsonl"
    assert invoke(["generate", "--count", "5", "--seed", "1", "--out", str(log)]).code == 0
    run_dir, summary = tmp_path / "run", tmp_path / "summary.json"
    outcome = invoke(["replay", str(log), "-t", sink.url, "--rate", "100/s", "--run-dir", str(run_dir),
                      "--slo", "lost<=0", "--summary-export", str(summary), "-q"])
    # acknowledgements only (no collector): every ack is its own result, nothing is lost
    assert outcome.code == ExitCode.OK, outcome.all_output
    assert json.loads(summary.read_text()) == report_json(run_dir, "lost<=0")
    failing = invoke(["replay", str(log), "-t", sink.url, "--rate", "100/s", "--run-dir",
                      str(tmp_path / "r2"), "--slo", "aborted>=1", "-q"])
    assert failing.code == ExitCode.CHECK_FAILED


def test_gate_of_an_incomplete_run_is_1(tmp_path: Path, sink: RecordingSink) -> None:
    """INCOMPLETE stays exit 1 (not 0, not a code of its own) in the document the gate reads: a finished
    run marked incomplete, as a failed log write marks it."""
    from evtool.results.summary import check_objectives, run_document

    run_dir = tmp_path / "run"
    outcome = invoke(["simulate", "-t", sink.url, "--rate", "100/s", "--count", "3", "--run-dir",
                      str(run_dir), "--slo", "lost<=0", "-q"])
    assert outcome.code == ExitCode.OK, outcome.all_output
    recorded = meta(run_dir)
    recorded["incomplete"] = ["log write failed: No space left on device"]
    (run_dir / "meta.json").write_text(json.dumps(recorded))
    doc = run_document(run_dir, check_objectives(["lost<=0"]))
    assert doc["verdict"] == "INCOMPLETE"
    assert doc["exit_code"] == ExitCode.CHECK_FAILED
