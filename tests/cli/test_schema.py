"""`evtool schema check` / `schema diff` through the CLI, on copies of the bundled catalogue."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from tests.support.cli import installed_evtool

from evtool.catalog.bundled import bundled_schema_dir
from evtool.cli.app import run

ORDER = "commerce.order.placed"
COMPLAINT = "support.complaint.filed"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository holding a copy of the bundled catalogue and its evtool.toml."""
    shutil.copytree(bundled_schema_dir(), tmp_path / "schemas")
    (tmp_path / "evtool.toml").write_text(
        'schema_dir = "schemas"\ndefault_mode = "BACKWARD"\n'
        f'[subjects."{ORDER}"]\nmode = "FULL_TRANSITIVE"\n'
        f'[subjects."{COMPLAINT}"]\nmode = "BACKWARD_TRANSITIVE"\n'
    )
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _edit_json(path: Path, edit: object) -> None:
    document = json.loads(path.read_text())
    assert callable(edit)
    edit(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


def test_bundled_catalogue_checks_clean(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema", "check"]) == 0
    out = capsys.readouterr().out
    assert "4 subjects" in out
    assert "compatible" in out


def test_breaking_avro_edit_fails_with_a_proven_counterexample(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = repo / "schemas" / ORDER / "4.avsc"
    document = json.loads((repo / "schemas" / ORDER / "3.avsc").read_text())
    document["fields"].append({"name": "risk_band", "type": "string"})  # no default: breaks BACKWARD
    newest.write_text(json.dumps(document, indent=2))
    assert run(["schema", "check", "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    backward = [f for f in result["findings"] if f["direction"] == "backward"]
    assert backward, result
    finding = backward[0]
    assert finding["subject"] == ORDER
    assert finding["new_version"] == 4
    assert finding["file"].endswith(f"{ORDER}/4.avsc")
    text = newest.read_text().splitlines()
    assert "risk_band" in "\n".join(text[finding["line"] - 1 : finding["line"] + 2])
    assert finding["counterexample"] is not None
    assert finding["counterexample"]["proof"]
    # FULL_TRANSITIVE: versions 1, 2 and 3 are all compared with the new one.
    assert {f["old_version"] for f in backward} == {1, 2, 3}


def test_breaking_json_edit_reports_code_pointer_and_counterexample(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(repo / "schemas" / COMPLAINT / "3.json", repo / "schemas" / COMPLAINT / "4.json")

    def drop_channel_value(doc: dict[str, object]) -> None:
        properties = doc["properties"]
        assert isinstance(properties, dict)
        properties["channel"]["enum"].remove("phone")

    _edit_json(repo / "schemas" / COMPLAINT / "4.json", drop_channel_value)
    assert run(["schema", "check", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert findings
    assert all(f["subject"] == COMPLAINT and f["direction"] == "backward" for f in findings)
    assert any("/properties/channel" in f["pointer"] for f in findings)
    example = findings[0]["counterexample"]
    assert example is not None
    assert example["event"]["channel"] == "phone"


def test_text_report_is_grouped_by_subject(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_json(
        repo / "schemas" / "inventory.stock.low" / "2.json",
        lambda d: d["properties"]["on_hand"].update(type="string"),
    )
    assert run(["schema", "check"]) == 1
    out = capsys.readouterr().out
    assert "✗ inventory.stock.low" in out
    assert "✓ commerce.order.placed" in out
    assert "inventory.stock.low/2.json:" in out


def test_machine_formats_parse(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_json(
        repo / "schemas" / "inventory.stock.low" / "2.json", lambda d: d["required"].append("supplier")
    )
    junit, sarif = tmp_path / "out.xml", tmp_path / "out.sarif"
    assert run(["schema", "check", "--format", "junit", "--output", str(junit)]) == 1
    assert run(["schema", "check", "--format", "sarif", "-o", str(sarif)]) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("failures", "0")) >= 1
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("2.json")


def test_github_format_writes_annotations_and_step_summary(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _edit_json(
        repo / "schemas" / "inventory.stock.low" / "2.json", lambda d: d["required"].append("supplier")
    )
    assert run(["schema", "check", "--format", "github"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error file=schemas/inventory.stock.low/2.json,line=")
    assert "## evtool schema check" in summary.read_text()


def test_mode_option_overrides_the_configured_modes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_json(
        repo / "schemas" / "inventory.stock.low" / "2.json", lambda d: d["required"].append("supplier")
    )
    assert run(["schema", "check", "--compatibility", "none"]) == 0
    capsys.readouterr()
    assert run(["schema", "check", "--compatibility", "sideways"]) == 2
    assert "unknown compatibility mode 'sideways'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("9.json", '{\n  "type": "object",\n  oops\n}', "9.json:3:3: invalid JSON"),
        ("v9.json", "{}", "must be named by a positive integer"),
        ("9.avsc", '"string"', "mixes Avro with JSON Schema"),
        ("9.json", '{"properties": {"a": {"$ref": "https://example.com/a.json"}}}', "remote $ref"),
        ("9.json", '{"type": "objekt"}', "9.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    repo: Path, capsys: pytest.CaptureFixture[str], filename: str, content: str, expected: str
) -> None:
    (repo / "schemas" / COMPLAINT / filename).write_text(content)
    assert run(["schema", "check"]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_invalid_avro_schema_names_file_and_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads((repo / "schemas" / ORDER / "3.avsc").read_text())
    document["fields"].append({"name": "bad", "type": "strnig"})
    (repo / "schemas" / ORDER / "4.avsc").write_text(json.dumps(document, indent=2))
    assert run(["schema", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{ORDER}/4.avsc:" in err


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_against_a_git_ref_flags_changed_and_deleted_published_versions(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(repo / ".git")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "published")
    assert run(["schema", "check", "--against", "main"]) == 0
    capsys.readouterr()
    _edit_json(
        repo / "schemas" / "inventory.stock.low" / "1.json",
        lambda d: d["properties"]["sku"].update(pattern="^SKU-[0-9]{6}$"),
    )
    (repo / "schemas" / COMPLAINT / "3.json").unlink()
    assert run(["schema", "check", "--against", "main", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    codes = {(f["subject"], f["code"]) for f in findings}
    assert ("inventory.stock.low", "published-version-modified") in codes
    assert (COMPLAINT, "published-version-deleted") in codes
    modified = next(f for f in findings if f["code"] == "published-version-modified")
    assert modified["pointer"] == "/properties/sku/pattern"


def test_against_a_ref_checks_only_new_versions(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # version 2 of the inventory alert was never compatible with 1 under FORWARD; it is already
    # published, so a check against main leaves it alone, and a new version 3 is checked.
    shutil.rmtree(repo / ".git")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "published")
    shutil.copy(
        repo / "schemas" / "inventory.stock.low" / "2.json",
        repo / "schemas" / "inventory.stock.low" / "3.json",
    )
    argv = ["schema", "check", "--against", "main", "--compatibility", "FORWARD", "--format", "json"]
    assert run(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs_checked"] == 1


def test_schema_diff_classifies_each_change(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = repo / "schemas" / "inventory.stock.low" / "1.json"
    new = repo / "schemas" / "inventory.stock.low" / "2.json"
    assert run(["schema", "diff", str(old), str(new), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backward_compatible"] is True
    assert result["forward_compatible"] is False  # closed model: new optional properties
    assert any(c["pointer"].startswith("/properties/reorder_point") for c in result["changes"])
    assert run(["schema", "diff", str(old), str(repo / "schemas" / ORDER / "1.avsc")]) == 2


def test_schema_diff_exits_1_on_a_backward_incompatible_change(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like `buf breaking`: version 1 of the stock alert is a closed model without the newer
    optional properties, so its readers cannot read data written with version 2."""
    newer = repo / "schemas" / "inventory.stock.low" / "2.json"
    older = repo / "schemas" / "inventory.stock.low" / "1.json"
    assert run(["schema", "diff", str(newer), str(older)]) == 1
    assert "backward INCOMPATIBLE" in capsys.readouterr().out
    assert run(["schema", "diff", str(newer), str(older), "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["backward_compatible"] is False
    assert result["format"] == "evtool.schema-diff"
    assert result["format_version"] == 1
    # a change that breaks forward compatibility only does not fail the command
    assert run(["schema", "diff", str(older), str(newer)]) == 0


@pytest.mark.e2e
def test_installed_command_runs_end_to_end(repo: Path) -> None:
    executable = installed_evtool()
    done = subprocess.run([executable, "schema", "check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("evtool ")
    module = subprocess.run(
        [sys.executable, "-m", "evtool", "schema", "check", "--compatibility", "bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert module.returncode == 2
    assert "Traceback" not in module.stderr


def test_text_report_to_a_file_is_plain_text(repo: Path, tmp_path: Path) -> None:
    _edit_json(
        repo / "schemas" / "inventory.stock.low" / "2.json", lambda d: d["required"].append("supplier")
    )
    out = tmp_path / "check.txt"
    assert run(["schema", "check", "--output", str(out)]) == 1
    text = out.read_text()
    assert "✗ inventory.stock.low" in text
    assert "\x1b[" not in text  # no terminal colour codes in a file
    assert not list(tmp_path.glob(".check.txt.tmp"))
