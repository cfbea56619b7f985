"""Against a server answering 501, the installed `evtool simulate` and `latency-report` say why the
events failed: "failed N: HTTP 501", N the count the server itself answered (issue 11 item 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.http_servers import status_sink

from evtool.errors import ExitCode

EVTOOL = Path(sys.executable).parent / "evtool"
pytestmark = pytest.mark.e2e


def _evtool(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EVTOOL), *argv], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def test_simulate_and_every_report_format_name_the_status_of_failed_events(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with status_sink(lambda n: 501 if n % 4 == 0 else 202) as sink:
        sent = _evtool("simulate", "--target", sink.url, "--rate", "400/s", "--count", "200",
                       "--run-dir", str(run_dir), "-q")
    assert sent.returncode == 0, sent.stderr
    failed = sink.answered[501]
    assert failed == 50
    summary = sent.stdout.splitlines()
    assert summary[0].startswith("done: scheduled 200 = acked 150 + failed 50"), sent.stdout
    assert f"failed {failed}: HTTP 501" in summary, sent.stdout

    text = _evtool("latency-report", str(run_dir))
    assert text.returncode == ExitCode.CHECK_FAILED, text.stderr
    assert f"failed {failed}: HTTP 501" in text.stdout.splitlines(), text.stdout
    assert f"http → {sink.url}" in text.stdout  # the transport and target it failed against
    doc = json.loads(_evtool("latency-report", str(run_dir), "--format", "json").stdout)
    assert doc["failures"] == [{"outcome": "failed", "reason": "HTTP_STATUS", "http_status": 501,
                                "detail": None, "text": "HTTP 501", "count": failed,
                                "line": f"failed {failed}: HTTP 501"}]
    assert doc["runs"][0]["transport"] == "http"
    for fmt in ("markdown", "html"):
        view = _evtool("latency-report", str(run_dir), "--format", fmt).stdout
        assert "HTTP 501" in view, fmt
        assert str(failed) in view, fmt


def test_a_clean_run_names_no_failure(tmp_path: Path) -> None:
    """The lines appear only when events failed: a healthy run's summary is its usual three lines."""
    run_dir = tmp_path / "run"
    with status_sink() as sink:
        sent = _evtool("simulate", "--target", sink.url, "--rate", "400/s", "--count", "40",
                       "--run-dir", str(run_dir), "-q")
    assert sent.returncode == 0, sent.stderr
    assert not [line for line in sent.stdout.splitlines() if line.startswith(("failed ", "dropped "))]
    assert json.loads(_evtool("latency-report", str(run_dir), "--format", "json").stdout)["failures"] == []
