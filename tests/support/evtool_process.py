"""The installed `evtool` in a real subprocess: start it, signal it, kill -9 it, limit it.

`kill9_gap` is the measurement behind the run log's loss bound: `evtool simulate --collect`
against a `counting_sink` that posts results back, killed with SIGKILL mid-run, then the
sink's own counts held against the records on disk (events sent and never logged; results
answered 202 and never logged).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.http_servers import counting_sink, free_port, settle

from evtool.results.runlog import open_run


def evtool_path() -> str:
    """The installed console script: on PATH, else beside this interpreter (a venv's bin/)."""
    found = shutil.which("evtool") or str(Path(sys.executable).with_name("evtool"))
    if not Path(found).exists():
        raise RuntimeError("the evtool command is not installed (pip install -e .)")
    return found


def spawn(args: Sequence[str], *, preexec_fn: Callable[[], None] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[str]:
    """`evtool ARGS` with pipes for stdout and stderr, in its own process group."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen([evtool_path(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=cwd, preexec_fn=preexec_fn,  # noqa: PLW1509 (limits only)
                            start_new_session=True)


def wait_for(path: Path, process: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    """Until `path` exists (the run started), or fail with the process's output."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"evtool ended ({process.returncode}) before {path} existed:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear in {timeout_s} s")
        time.sleep(0.01)


@dataclass(frozen=True)
class Kill9Gap:
    rate: float
    received: int  # events the sink counted
    logged: int  # whole event records on disk
    results_accepted: int  # result posts the collector answered 202 to
    results_logged: int  # whole result records on disk
    ended_at: str | None
    stderr: str

    @property
    def gap_events(self) -> int:
        return self.received - self.logged

    @property
    def gap_ms(self) -> float:
        return self.gap_events / self.rate * 1000

    @property
    def result_gap(self) -> int:
        return self.results_accepted - self.results_logged


def kill9_gap(run_dir: Path, *, rate: float = 500.0, kill_after_s: float = 5.0) -> Kill9Gap:
    """Run `evtool simulate --rate RATE --collect` and SIGKILL it `kill_after_s` after its time zero."""
    port = free_port()
    with counting_sink(collector=f"127.0.0.1:{port}") as sink:
        process = spawn(["simulate", "-t", sink.url, "--rate", f"{rate:g}/s", "--duration", "60s",
                         "--run-dir", str(run_dir), "--collect", f"127.0.0.1:{port}", "-q"])
        try:
            wait_for(run_dir / "meta.json", process)
            origin_ns = json.loads((run_dir / "meta.json").read_text())["clock_origin_ns"]
            time.sleep(max(0.0, origin_ns / 1e9 + kill_after_s - time.time()))
            process.send_signal(signal.SIGKILL)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        received, accepted = settle(sink)
    files = open_run(run_dir)
    return Kill9Gap(rate, received, files.event_count, accepted, files.result_count,
                    files.meta.ended_at, err)
