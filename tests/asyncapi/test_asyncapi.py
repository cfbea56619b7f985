"""AsyncAPI 3: the bundled catalogue exported validates against the official schema, reads back as
the same catalogue, and `schema check --asyncapi --against` judges an edit of a payload."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.support.asyncapi_specs import asyncapi_errors
from tests.support.cli import invoke

from evtool.asyncapi.reader import load_asyncapi
from evtool.asyncapi.writer import to_asyncapi
from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir, bundled_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding this checkout's schemas/ and evtool.toml, committed on main."""
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    shutil.copy(ROOT / "evtool.toml", tmp_path / "evtool.toml")
    monkeypatch.chdir(tmp_path)
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "catalogue"],
    ):
        subprocess.run(["git", *command], check=True, cwd=tmp_path)
    return tmp_path


def test_the_exported_document_is_valid_asyncapi_3(tmp_path: Path) -> None:
    catalog = load_catalog(bundled_schema_dir())
    for inline in (False, True):
        document = to_asyncapi(catalog, bundled_settings(), relative_to=tmp_path, inline=inline)
        assert asyncapi_errors(document) == []
    broken = to_asyncapi(catalog, bundled_settings(), relative_to=tmp_path)
    broken["operations"]["send.commerce.order.placed"]["action"] = "publish"  # AsyncAPI 2's word
    assert asyncapi_errors(broken)  # the validation can fail


def test_export_reads_back_as_the_catalogues_latest_versions(repo: Path) -> None:
    outcome = invoke(["asyncapi", "export", "-o", "docs/asyncapi.yaml"])
    assert outcome.code == 0, outcome.stderr
    written = yaml.safe_load((repo / "docs/asyncapi.yaml").read_text())
    assert asyncapi_errors(written) == []
    payload = written["components"]["messages"]["commerce.order.placed"]["payload"]
    assert payload["schema"] == {"$ref": "../schemas/commerce.order.placed/3.avsc"}
    read = load_asyncapi(repo / "docs/asyncapi.yaml")
    catalog = load_catalog(repo / "schemas")
    assert set(read.subjects) == set(catalog.subjects)
    for name, subject in catalog.subjects.items():
        assert read.subjects[name].latest.document == subject.latest.document
        assert read.subjects[name].latest.format is subject.format


def test_check_against_main_judges_the_payload_edit_with_a_counterexample(repo: Path) -> None:
    assert invoke(["asyncapi", "export", "--inline", "-o", "asyncapi.yaml"]).code == 0
    subprocess.run(["git", "add", "asyncapi.yaml"], check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "doc"], check=True
    )
    unchanged = invoke(
        ["schema", "check", "--asyncapi", "asyncapi.yaml", "--against", "main", "--format", "json"]
    )
    assert unchanged.code == 0, unchanged.stdout + unchanged.stderr
    document = yaml.safe_load((repo / "asyncapi.yaml").read_text())
    order = document["components"]["messages"]["commerce.order.placed"]["payload"]["schema"]
    order["fields"].append({"name": "risk_band", "type": "string"})  # required, no default: breaks BACKWARD
    (repo / "asyncapi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    edited = invoke(
        ["schema", "check", "--asyncapi", "asyncapi.yaml", "--against", "main", "--format", "json"]
    )
    assert edited.code == 1
    report = json.loads(edited.stdout)
    codes = {(f["subject"], f["code"]) for f in report["findings"]}
    assert ("commerce.order.placed", "reader-field-missing-default") in codes
    assert all(f["subject"] == "commerce.order.placed" for f in report["findings"])
    assert all(f["counterexample"] for f in report["findings"] if f["direction"] == "backward")


def test_a_document_that_is_not_asyncapi_3_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text("asyncapi: 2.6.0\ninfo: {title: x, version: '1'}\n")
    outcome = invoke(["schema", "check", "--asyncapi", str(tmp_path / "old.yaml")])
    assert outcome.code == 2
    assert "not an AsyncAPI 3 document" in outcome.stderr
    assert "Traceback" not in outcome.stderr
