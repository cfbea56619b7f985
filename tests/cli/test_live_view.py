"""The live view as people see it: in a pipe (complete plain lines, end-to-end and backlog first),
at 80 columns on a terminal (wrapped, never cut), and `--slo ... --abort-on-fail` through the CLI
(exit 1, the verdict naming the objective) and its report."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from tests.support.cli import invoke
from tests.support.http_servers import free_port, status_sink
from tests.support.slow_consumer import slow_consumer

from evtool.cli.live_view import live_table, plain_line
from evtool.errors import ExitCode
from evtool.load.live import LiveSpec, ObjectiveState, Snapshot


def _overloaded(tmp_path: Path) -> tuple[int, str, str]:
    collector = f"127.0.0.1:{free_port()}"
    with slow_consumer(collector, workers=1, service_s=0.025) as consumer:
        ran = invoke(["simulate", "--target", consumer.url, "--rate", "100/s", "--duration", "3s",
                      "--collect", collector, "--result-timeout", "1s", "--slo", "p99<=1s",
                      "--run-dir", str(tmp_path / "run")])
    return ran.code, ran.stdout, ran.stderr


def test_plain_view_in_a_pipe_leads_with_end_to_end_and_backlog(tmp_path: Path) -> None:
    code, _, err = _overloaded(tmp_path)
    assert code in (ExitCode.OK, ExitCode.CHECK_FAILED), err  # --slo as the exit gate: its p99 is missed
    lines = [line for line in err.splitlines() if line.startswith("t=")]
    assert len(lines) >= 2, err
    assert "…" not in err
    sending = [line for line in lines if "waiting for late results" not in line]
    assert "(asked 100/s)" in sending[-1]
    assert all(" | end-to-end " in line and " | backlog " in line for line in lines), lines
    assert any("(last 5s, target 1.00 s) OVER TARGET" in line for line in lines), lines
    assert "starting" not in err
    # the rate asked never drifts: every line says 100/s
    assert all("asked 100/s" in line or "sending done" in line for line in lines), lines


def test_terminal_view_at_80_columns_wraps_and_keeps_every_figure() -> None:
    snapshot = Snapshot(
        elapsed_s=12.3, target_rate=200.0, achieved_rate=199.4, in_flight=7, scheduled=2460, sent=2458,
        acked=2451, failed=12, dropped=0, aborted=0, ack_p50_ms=1.4, ack_p99_ms=3.0, lag_p99_ms=0.4,
        behind=False, time_left_s=7.7, finished=False, collecting=True, target_ms=2000.0, results=1187,
        e2e_p50_ms=2410.0, e2e_p99_ms=4980.0, in_time=950, backlog=1271, oldest_wait_s=5.1,
        failures=(("failed", "HTTP 503", 12),),
        objectives=(ObjectiveState("p99<=2s", "lost", "40 events already took longer than 2s; with at "
                                   "most 4000 events, 40 may"),),
    )
    for width in (80, 200):
        console = Console(file=io.StringIO(), width=width, record=True, force_terminal=True,
                          color_system=None)
        console.print(live_table(snapshot))
        text = console.export_text()
        assert "…" not in text
        assert all(len(line) <= width for line in text.splitlines())
        flat = " ".join(text.split())
        assert "p99 4.98 s (last 5s, target 2.00 s) OVER TARGET" in flat, text
        assert "1,271 sent, waiting for a result" in flat
        assert "oldest 5.1 s" in flat
        assert "failed 12: HTTP 503" in flat
        assert "asked 200/s" in flat
        assert "p99<=2s LOST" in flat
        assert " ok " not in f" {flat} "  # "acked" and "in time", never the ambiguous "ok"
    line = plain_line(snapshot)
    assert "end-to-end p50 2.41 s p99 4.98 s" in line
    assert "backlog 1,271 sent" in line


def test_without_a_collector_the_view_says_results_are_not_collected() -> None:
    snapshot = Snapshot(
        elapsed_s=1.0, target_rate=None, achieved_rate=10.0, in_flight=0, scheduled=10, sent=10, acked=10,
        failed=0, dropped=0, aborted=0, ack_p50_ms=1.0, ack_p99_ms=2.0, lag_p99_ms=0.1, behind=False,
        time_left_s=None, finished=False, schedule="recorded gaps, 10x faster",
    )
    line = plain_line(snapshot)
    assert "results not collected (no --collect)" in line
    assert "recorded gaps, 10x faster" in line
    assert LiveSpec().rate_at(3.0) is None


def test_abort_on_fail_through_the_cli_and_its_report(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with status_sink(lambda n: 503 if n >= 20 else 202) as sink:
        ran = invoke(["simulate", "--target", sink.url, "--rate", "100/s", "--duration", "10s",
                      "--slo", "failed<=0", "--abort-on-fail", "--run-dir", str(run_dir), "-q"])
    assert ran.code == ExitCode.CHECK_FAILED, ran.all_output
    assert "FAIL (aborted by objective failed<=0 at t=" in ran.stdout, ran.stdout
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["abort"]["objective"] == "failed<=0"
    assert meta["options"]["slo"] == ["failed<=0"]
    assert meta["options"]["abort_on_fail"] is True
    assert sink.count() < 300  # stopped: 1000 were planned
    report = invoke(["latency-report", str(run_dir)])
    assert report.code == ExitCode.CHECK_FAILED
    assert report.stdout.startswith("FAIL (aborted by objective failed<=0 at t="), report.stdout


def test_bad_live_options_are_one_line_errors(tmp_path: Path) -> None:
    base = ["simulate", "--target", "-", "--rate", "10/s", "--count", "5", "--run-dir", str(tmp_path / "r")]
    for extra, says in (
        (["--abort-on-fail"], "--abort-on-fail ends the run when an --slo objective"),
        (["--slo", "p99 under 2s"], "bad --slo 'p99 under 2s'"),
        (["--metrics", "nowhere"], "--metrics 'nowhere': expected HOST:PORT"),
    ):
        ran = invoke([*base, *extra])
        assert ran.code == ExitCode.USAGE, ran.all_output
        assert says in ran.stderr, ran.stderr
        assert "Traceback" not in ran.all_output
