"""Run evtool as its user does: in-process through `evtool.cli.app.run` inside Typer's
CliRunner isolation (its own stdin, stdout, stderr), or as the installed console script in a
subprocess.

In-process runs go through `run`, not the Typer app alone, because `run` is where errors
become one line and an exit code; a test of what the user sees must include it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from evtool.cli.app import run


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


def run_installed(
    argv: list[str],
    *,
    cwd: Path | None = None,
    timeout: float = 60.0,
    honour_file_modes: bool = False,
    memory_limit: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """`evtool ARGV` as a real process; `timeout` turns a hang into a failure, not a stuck suite.

    `honour_file_modes`: for permission tests when the suite runs as root (for whom no file is
    unreadable), the process runs without root's permission override. `memory_limit` (bytes of
    address space) keeps a regression that reads an endless input from exhausting the machine.
    """
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    drop = honour_file_modes and os.geteuid() == 0

    def prepare_child() -> None:
        if drop:
            _drop_file_permission_override()
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [installed_evtool(), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        preexec_fn=prepare_child if drop or memory_limit is not None else None,
    )
