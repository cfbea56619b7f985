"""[segments] in a scenario file (`evtool run`, `simulate --scenario`): the file's part, sequence and
start, the command line's part over the file's, and a bad one named at its file:line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import invoke

from evtool.errors import ExitCode

SCENARIO = """\
[target]
url = "file:{out}"
mode = "structured"
[events]
seed = 5
[arrival]
rate = "2000/s"
count = 120
[output]
quiet = true
[segments]
sequence = "0,1/4,1/2,1"
{segment}
"""


def write(tmp_path: Path, segment: str = "", name: str = "s.toml") -> tuple[Path, Path]:
    out = tmp_path / f"{name}.jsonl"
    path = tmp_path / name
    path.write_text(SCENARIO.format(out=out, segment=segment), encoding="utf-8")
    return path, out


def run(*args: str) -> tuple[int, str]:
    outcome = invoke(list(args))
    return outcome.code, outcome.all_output


def test_the_files_part_runs_and_meta_records_it(tmp_path: Path) -> None:
    path, out = write(tmp_path, 'segment = "1/2:1"')
    code, output = run("run", str(path), "--run-dir", str(tmp_path / "half"))
    assert code == ExitCode.OK, output
    meta = json.loads((tmp_path / "half" / "meta.json").read_text())
    assert (meta["segment"], meta["segment_sequence"]) == ("1/2:1", "0,1/4,1/2,1")
    assert len(out.read_text().splitlines()) == 60  # half of 120


def test_the_command_lines_part_wins_and_the_parts_are_the_whole(tmp_path: Path) -> None:
    path, _ = write(tmp_path, 'segment = "1/2:1"')
    hashes = {}
    for index, part in enumerate(["0:1/4", "1/4:1/2", "1/2:1"]):
        code, output = run("simulate", "--scenario", str(path), "--segment", part,
                           "--run-dir", str(tmp_path / f"p{index}"))
        assert code == ExitCode.OK, output
        meta = json.loads((tmp_path / f"p{index}" / "meta.json").read_text())
        assert meta["segment"] == part
        hashes[part] = meta["scenario_hash"]
    assert len(set(hashes.values())) == 1  # one scenario, whichever part
    code, output = run("latency-report", *(str(tmp_path / f"p{i}") for i in range(3)), "--format", "json")
    assert json.loads(output[output.index("{"):])["incomplete"] == [], output


def test_a_middle_part_without_a_sequence_is_named_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    text = SCENARIO.format(out=tmp_path / "m.jsonl", segment='segment = "1/4:1/2"')
    path.write_text(text.replace('sequence = "0,1/4,1/2,1"\n', ""), encoding="utf-8")
    code, output = run("run", str(path), "--run-dir", str(tmp_path / "m"))
    assert code == ExitCode.USAGE
    assert f"{path}:12: segments.segment: " in output
    assert "a middle segment needs --segment-sequence" in output
    assert "Traceback" not in output
    # the command line can give the sequence the file lacks
    code, output = run("run", str(path), "--segment-sequence", "0,1/4,1/2,1",
                       "--run-dir", str(tmp_path / "m2"))
    assert code == ExitCode.OK, output


def test_a_bad_part_in_the_file_is_one_line_at_its_line(tmp_path: Path) -> None:
    path, _ = write(tmp_path, 'segment = "3/4:1/4"', "bad.toml")
    code, output = run("run", str(path))
    assert code == ExitCode.USAGE
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert f"{path}:13: segments.segment: the start must be below the end" in lines[0]
