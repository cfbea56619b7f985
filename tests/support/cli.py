"""Run evtool as its user does: in this process through `evtool.cli.app.run` (Typer's CliRunner
isolation), or as the installed console script in a real subprocess (run, spawned, signalled,
killed -9, limited).

- `invoke`: in-process, through `run` (not the Typer app alone: `run` is where errors become one
  line and an exit code, so a test of what the user sees must include it);
- `run_evtool`: the installed command to its end, timed (optionally without root's permission
  override, under an address-space limit);
- `spawn` / `finish` / `wait_for`: a process the test signals or kills meanwhile;
- `kill9_gap`: the measurement behind the run log's loss bound (kill -9 mid-run, then the sink's
  own counts held against the records on disk).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.http_servers import counting_sink, free_port, settle
from typer.testing import CliRunner

from evtool.cli.app import run
from evtool.results.runlog import open_run


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def all_output(self) -> str:
        return self.stdout + self.stderr


def invoke(argv: list[str], *, stdin: str | None = None) -> Outcome:
    """`evtool ARGV` in this process; an exception that escapes `run` propagates (a traceback
    the user would have seen fails the test)."""
    with CliRunner().isolation(input=stdin) as (stdout, stderr, _):
        code = run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        return Outcome(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def installed_evtool() -> str:
    """The console script of the environment running the tests (beside its python, else on PATH)."""
    beside_python = Path(sys.executable).parent / "evtool"
    found = str(beside_python) if beside_python.exists() else shutil.which("evtool")
    assert found, "the evtool console script is not installed (pip install -e .)"
    return found


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def returncode(self) -> int:
        """The exit code, by the name `subprocess.CompletedProcess` gives it."""
        return self.code


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_file_permission_override() -> None:
    """In the child before exec: take the capabilities that let root ignore file modes out of
    the bounding set, so the exec'd evtool meets permission bits as any user would."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_evtool(
    *args: str | Path,
    timeout_s: float = 120.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    honour_file_modes: bool = False,
    memory_limit: int | None = None,
) -> Ran:
    """`evtool ARGS` as a real process, to its end; `timeout_s` turns a hang into a failure.

    `env` adds to (or overrides) this environment. `honour_file_modes`: for permission tests when
    the suite runs as root (for whom no file is unreadable), the process runs without root's
    permission override. `memory_limit` (bytes of address space) keeps a regression that reads an
    endless input from exhausting the machine.
    """
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    drop = honour_file_modes and os.geteuid() == 0

    def prepare_child() -> None:
        if drop:
            _drop_file_permission_override()
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    started = time.monotonic()
    done = subprocess.run(
        [installed_evtool(), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=full_env,
        preexec_fn=prepare_child if drop or memory_limit is not None else None,
    )
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def spawn(args: Sequence[str], *, preexec_fn: Callable[[], None] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[str]:
    """`evtool ARGS` with pipes for stdout and stderr, in its own process group."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen([installed_evtool(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=cwd, preexec_fn=preexec_fn,  # noqa: PLW1509 (limits only)
                            start_new_session=True)


def finish(process: subprocess.Popen[str], timeout_s: float = 60) -> tuple[int, str, str]:
    """A spawned process's exit code, stdout and stderr; killed if it has not ended in `timeout_s`."""
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


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
    """`evtool simulate --rate RATE --collect` against a `counting_sink` that posts results back,
    SIGKILLed `kill_after_s` after its time zero."""
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
