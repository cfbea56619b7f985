"""One vocabulary across commands: -h everywhere, examples under each, value names users read,
renamed options whose old spelling still works (and warns once), shell completion."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from typing import Any

import pytest
from tests.support.cli import installed_evtool, invoke

from evtool.cli import conventions
from evtool.cli.app import build_command

COMMANDS = [path for path, _ in conventions.every_command(build_command())]
TYPE_METAVARS = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|[a-z ]+ range)>|\{[a-z_]+\}")


def _commands() -> dict[str, Any]:
    return dict(conventions.every_command(build_command()))


@pytest.mark.parametrize("path", ["", *COMMANDS])
def test_every_command_has_dash_h_examples_and_no_python_type_names(path: str) -> None:
    argv = [*path.split(), "-h"] if path else ["-h"]
    shown = invoke(argv)
    assert shown.code == 0, shown.all_output
    assert "Examples" in shown.stdout
    assert f"$ evtool {path}".rstrip() in " ".join(shown.stdout.split())
    found = TYPE_METAVARS.findall(shown.stdout)
    assert not TYPE_METAVARS.search(shown.stdout), f"evtool {path} -h shows {found}"


def test_the_examples_use_only_options_their_command_has() -> None:
    for path, command in _commands().items():
        if not command.epilog or not hasattr(command, "params") or command.__class__.__name__ == "TyperGroup":
            continue
        known = {o for p in command.params if not getattr(p, "hidden", False) for o in p.opts}
        for line in re.findall(r"\$ (evtool [^\[\n]*)", command.epilog):
            words = shlex.split(line)
            assert " ".join(words[1 : 1 + len(path.split())]) == path, line
            for word in words:
                if word.startswith("-") and word != "-":
                    assert word.split("=")[0] in known | {"-h", "--help"}, f"{path}: {line}: {word}"


@pytest.mark.parametrize(
    ("argv", "old", "new"),
    [
        (["simulate", "-t", "-", "--rate", "10/s", "--count", "1", "--mode", "pigeon"], "--mode",
         "--content-mode"),
        (["replay", "nothing.jsonl", "-t", "-", "--mode=pigeon"], "--mode", "--content-mode"),
        (["schema", "check", "--mode", "sideways"], "--mode", "--compatibility"),
        (["consumer", "serve", "--workers", "0"], "--workers", "--concurrency"),
        (["demo", "--workers", "0"], "--workers", "--consumer-concurrency"),
    ],
)
def test_old_spellings_parse_as_the_new_ones_and_warn(argv: list[str], old: str, new: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conventions, "_warned", set())
    outcome = invoke(argv)
    assert outcome.code == 2
    assert f"{old} is deprecated, use {new}" in outcome.stderr
    # the bad value is judged by the new option: the alias really is the same option
    assert new in outcome.stderr.split("deprecated", 1)[1]


def test_the_deprecation_warning_is_given_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conventions, "_warned", set())
    outcome = invoke(["schema", "check", "--mode", "NONE", "--mode", "NONE"])
    assert outcome.code == 0, outcome.all_output
    assert outcome.stderr.count("is deprecated") == 1
    assert conventions.rewrite(["--", "--mode"], {"--mode": "--x"}, "t") == ["--", "--mode"]


def test_schema_diff_format_json_and_the_hidden_json_flag(tmp_path: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conventions, "_warned", set())
    old, new = tmp_path / "1.json", tmp_path / "2.json"
    old.write_text('{"type": "object"}')
    new.write_text('{"type": "object", "description": "d"}')
    by_format = invoke(["schema", "diff", str(old), str(new), "--format", "json"])
    by_flag = invoke(["schema", "diff", str(old), str(new), "--json"])
    assert by_format.code == by_flag.code == 0
    assert by_format.stdout == by_flag.stdout
    assert '"format": "evtool.schema-diff"' in by_flag.stdout
    assert "--json is deprecated" in by_flag.stderr
    assert not by_format.stderr
    assert "--json" not in invoke(["schema", "diff", "-h"]).stdout


def test_shell_completion_is_installed_and_completes() -> None:
    evtool = installed_evtool()
    script = subprocess.run([evtool, "--show-completion", "bash"], capture_output=True, text=True,
                            check=False, env={**os.environ, "SHELL": "/bin/bash"})
    assert script.returncode == 0
    assert "_evtool_completion" in script.stdout
    env = {**os.environ, "_EVTOOL_COMPLETE": "complete_bash", "COMP_WORDS": "evtool simulate --con",
           "COMP_CWORD": "2"}
    done = subprocess.run([evtool], capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0
    assert done.stdout.split() == ["--content-mode"]  # hidden aliases are not offered
