"""The CLI's top level: what escapes a command still ends as one line and the right exit code."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import typer
from tests.support.cli import invoke, run_evtool

from evtool.catalog.bundled import bundled_schema_dir
from evtool.errors import ExitCode
from evtool.formats.findings import CheckReport, Finding, Location


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_unwritable_step_summary_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "no-such-dir" / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    outcome = invoke(["schema", "check", "--schemas", str(bundled_schema_dir()), "--format", "github"])
    assert outcome.code == ExitCode.USAGE
    assert _error_lines(outcome.stderr) == [f"error: {summary}: No such file or directory"]
    assert "Traceback" not in outcome.all_output


@pytest.mark.e2e
def test_config_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "evtool.toml").write_bytes(b'schema_dir = "sch\xe9mas"\n')
    done = run_evtool("schema", "check", "--config", "evtool.toml", cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE, done
    assert "Traceback" not in done.stderr
    assert _error_lines(done.stderr) == ["error: evtool.toml: not UTF-8 (at byte offset 17)"]


def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:
        """A second command keeps `boom` a subcommand."""

    return app


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RecursionError("maximum recursion depth exceeded"), "error: input nested too deeply to process"),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/run-7/events.log"),
            "error: /data/run-7/events.log: Permission denied",
        ),
        (
            OSError(errno.EXDEV, "Invalid cross-device link", "/a/x", None, "/b/x"),
            "error: /a/x -> /b/x: Invalid cross-device link",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "error: No space left on device"),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            "error: input is not valid text: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
    ],
    ids=["recursion", "oserror-with-file", "oserror-two-files", "oserror-no-file", "unicode"],
)
def test_errors_from_user_input_become_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, expected: str
) -> None:
    monkeypatch.setattr("evtool.cli.app.build_app", lambda: _app_raising(exc))
    outcome = invoke(["boom"])
    assert outcome.code == ExitCode.USAGE
    assert _error_lines(outcome.stderr) == [expected]
    assert "Traceback" not in outcome.all_output
    assert outcome.stdout == ""


def test_a_bug_is_not_disguised_as_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("evtool.cli.app.build_app", lambda: _app_raising(KeyError("x")))
    with pytest.raises(KeyError):
        invoke(["boom"])


def test_check_report_gives_its_exit_code() -> None:
    report = CheckReport()
    assert report.exit_code is ExitCode.OK
    report.findings.append(
        Finding("s", 1, 2, None, "published-version-modified", "", Location(Path("s/1.json"), 1), "m")
    )
    assert report.exit_code is ExitCode.CHECK_FAILED
