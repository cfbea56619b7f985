"""The summary document simulate/replay export: where it may be written, and that a failed write
leaves the earlier file whole (the document itself is latency-report's: tests/cli/test_run.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evtool.errors import InputError
from evtool.results.summary import check_export_path, check_objectives, export_summary


def test_export_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    export_summary(path, {"verdict": "FAIL", "exit_code": 1})
    export_summary(path, {"verdict": "PASS", "exit_code": 0})
    assert json.loads(path.read_text()) == {"verdict": "PASS", "exit_code": 0}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def test_places_that_cannot_hold_it_are_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory — give a file name"):
        check_export_path(tmp_path)
    with pytest.raises(InputError, match=r"no directory .*missing — create it or choose another path"):
        check_export_path(tmp_path / "missing" / "s.json")
    check_export_path(tmp_path / "s.json")


def test_a_failed_write_is_one_line_and_keeps_the_earlier_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    export_summary(path, {"verdict": "PASS"})
    (tmp_path / f".summary.json.{os.getpid()}.tmp").mkdir()  # the temporary name is taken
    with pytest.raises(InputError, match=r"--summary-export .*summary.json: cannot write it"):
        export_summary(path, {"verdict": "FAIL"})
    assert json.loads(path.read_text()) == {"verdict": "PASS"}


def test_objectives_are_parsed_before_the_run() -> None:
    assert check_objectives(None) is None
    parsed = check_objectives(["p99<=2s", "lost<=0"])
    assert parsed is not None
    assert [s.text for s in parsed] == ["p99<=2s", "lost<=0"]
