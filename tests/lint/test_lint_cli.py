"""`evtool schema lint` as its user runs it: the catalogue, ignores with reasons, CI formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.support.cli import invoke

from evtool.lint.rule import all_rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    shutil.copy(ROOT / "evtool.toml", tmp_path / "evtool.toml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_list_rules_prints_the_whole_catalogue() -> None:
    outcome = invoke(["schema", "lint", "--list-rules"])
    assert outcome.code == 0
    for rule in all_rules():
        assert f"{rule.code} {rule.name} {rule.group.value}" in outcome.stdout


def test_the_bundled_catalogue_is_clean_with_every_accepted_finding_giving_its_reason(repo: Path) -> None:
    outcome = invoke(["schema", "lint", "--format", "json"])
    assert outcome.code == 0, outcome.stdout
    report = json.loads(outcome.stdout)
    assert report["ok"] is True
    assert all(f["ignored_because"] for f in report["findings"])


def test_a_new_finding_fails_and_names_file_line_and_rule(repo: Path) -> None:
    path = repo / "schemas/commerce.order.placed/4.avsc"
    schema = json.loads((repo / "schemas/commerce.order.placed/3.avsc").read_text())
    schema["fields"].append({"name": "risk_score", "type": "double", "default": 0.0, "doc": "Risk."})
    schema["fields"].append({"name": "refund_amount", "type": "double", "default": 0.0, "doc": "Refunded."})
    path.write_text(json.dumps(schema, indent=2))
    outcome = invoke(["schema", "lint"])
    assert outcome.code == 1
    assert "EV401 money-not-float schemas/commerce.order.placed/4.avsc:" in outcome.stdout
    assert "refund_amount" in outcome.stdout
    assert "risk_score" not in outcome.stdout.split("EV401", 1)[1].split("\n", 2)[1]


def test_sarif_rules_carry_their_docstrings_as_help(repo: Path) -> None:
    (repo / "evtool.toml").write_text('schema_dir = "schemas"\n')
    outcome = invoke(["schema", "lint", "--format", "sarif"])
    assert outcome.code == 1
    rules = {r["id"]: r for r in json.loads(outcome.stdout)["runs"][0]["tool"]["driver"]["rules"]}
    documented = {r.code: r for r in all_rules()}
    assert rules
    for code, entry in rules.items():
        assert entry["help"]["text"] == documented[code].documentation()
        assert entry["name"] == documented[code].name


def test_an_ignore_without_a_reason_is_a_config_error(repo: Path) -> None:
    (repo / "evtool.toml").write_text('[subjects."inventory.stock.low".lint.ignore]\nEV202 = ""\n')
    outcome = invoke(["schema", "lint"])
    assert outcome.code == 2
    assert "needs the reason it is accepted" in outcome.stderr


def test_except_turns_a_rule_off_and_use_picks_the_group(repo: Path) -> None:
    (repo / "evtool.toml").write_text('[lint]\nuse = "BASIC"\nexcept = ["EV501", "EV301"]\n')
    outcome = invoke(["schema", "lint", "--format", "json"])
    report = json.loads(outcome.stdout)
    assert "EV202" not in report["rules"]  # STANDARD only
    assert "EV501" not in report["rules"]
    assert "EV402" in report["rules"]
    minimal = json.loads(invoke(["schema", "lint", "--use", "minimal", "--format", "json"]).stdout)
    assert all(code in ("EV301", "EV302", "EV303", "EV304", "EV305", "EV401") for code in minimal["rules"])


def test_a_protobuf_field_deleted_without_reserving_fails_at_its_message(repo: Path) -> None:
    """The bundled .proto subject's next version drops `customer_note` (11) and reserves only the number."""
    text = (repo / "schemas/payments.refund.issued/3.proto").read_text()
    assert "optional string customer_note = 11;" in text
    (repo / "schemas/payments.refund.issued/4.proto").write_text(
        text.replace("optional string customer_note = 11;", "reserved 11;")
    )
    outcome = invoke(["schema", "lint"])
    assert outcome.code == 1, outcome.stdout
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("message RefundIssued"))
    assert f"EV305 proto-deleted-reserved schemas/payments.refund.issued/4.proto:{line} " in outcome.stdout
    assert "without reserving its name 'customer_note'" in outcome.stdout
    # reserving the name too makes the version clean again
    (repo / "schemas/payments.refund.issued/4.proto").write_text(
        text.replace("optional string customer_note = 11;", 'reserved 11;\n  reserved "customer_note";')
    )
    assert invoke(["schema", "lint"]).code == 0
