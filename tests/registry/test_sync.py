"""`schema push` (in order, idempotent, --dry-run) and `schema pull` (layout and levels)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from tests.support.cli import invoke
from tests.support.fake_schema_registry import FakeSchemaRegistry
from tests.support.schema_histories import ORDER_V1, ORDER_V2, ORDER_V3_BREAKING, write_catalog


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dry_run_registers_nothing_and_says_what_it_would(repo: Path, registry: FakeSchemaRegistry) -> None:
    write_catalog(repo, [ORDER_V1, ORDER_V2])
    registry.add("orders-value", ORDER_V1)
    outcome = invoke(["schema", "push", "--registry", registry.url, "--dry-run"])
    assert outcome.code == 0, outcome.stderr
    assert "already registered orders v1 → orders-value" in outcome.stdout
    assert "would register orders v2 → orders-value" in outcome.stdout
    assert registry.writes == []
    assert len(registry.subjects["orders-value"]) == 1


def test_push_registers_in_order_and_a_second_push_changes_nothing(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    write_catalog(repo, [ORDER_V1, ORDER_V2])
    first = invoke(["schema", "push", "--registry", registry.url])
    assert first.code == 0, first.stderr
    stored = [json.loads(s.schema) for s in registry.subjects["orders-value"]]
    assert stored == [ORDER_V1, ORDER_V2]
    second = invoke(["schema", "push", "--registry", registry.url])
    assert second.code == 0
    assert "0 registered, 2 already registered" in second.stdout
    assert len(registry.subjects["orders-value"]) == 2


def test_a_version_the_registry_refuses_fails_the_push_and_stops_the_subject(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    write_catalog(repo, [ORDER_V1, ORDER_V2, ORDER_V3_BREAKING])
    registry.levels["orders-value"] = "BACKWARD"
    outcome = invoke(["schema", "push", "--registry", registry.url])
    assert outcome.code == 1
    assert "refused orders v3 → orders-value: INCOMPATIBLE_SCHEMA:" in outcome.stdout
    assert len(registry.subjects["orders-value"]) == 2


def test_pull_writes_the_layout_and_the_levels_keeping_the_configs_comments(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    toml = write_catalog(repo, [], subject="placeholder")
    toml.write_text("# the team's settings\n" + toml.read_text())
    registry.add("orders-value", ORDER_V1)
    registry.add("orders-value", ORDER_V2)
    registry.add("audit-log", {"type": "object", "title": "Audit"}, "JSON")
    registry.levels["orders-value"] = "FULL_TRANSITIVE"
    outcome = invoke(["schema", "pull", "--registry", registry.url])
    assert outcome.code == 0, outcome.stderr
    assert json.loads((repo / "schemas/orders/1.avsc").read_text()) == ORDER_V1
    assert json.loads((repo / "schemas/orders/2.avsc").read_text()) == ORDER_V2
    assert json.loads((repo / "schemas/audit-log/1.json").read_text())["title"] == "Audit"
    text = toml.read_text()
    assert text.startswith("# the team's settings\n")
    settings = tomllib.loads(text)["subjects"]
    assert settings["orders"] == {"mode": "FULL_TRANSITIVE"}
    # not derivable from the folder under topic naming, so it is written down
    assert settings["audit-log"] == {"mode": "BACKWARD", "registry_subject": "audit-log"}
    # and what was pulled checks clean against where it came from
    check = invoke(["schema", "check", "--registry", registry.url])
    assert check.code == 0, check.stdout + check.stderr
    again = invoke(["schema", "pull", "--registry", registry.url])
    assert again.code == 0
    assert again.stdout.count("unchanged") == 3


def test_pull_never_overwrites_a_differing_file_unless_asked(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    write_catalog(repo, [ORDER_V2])
    registry.add("orders-value", ORDER_V1)
    before = (repo / "schemas/orders/1.avsc").read_text()
    refused = invoke(["schema", "pull", "orders-value", "--registry", registry.url])
    assert refused.code == 2
    assert "differs from orders-value version 1" in refused.stderr
    assert (repo / "schemas/orders/1.avsc").read_text() == before
    forced = invoke(["schema", "pull", "orders-value", "--registry", registry.url, "--overwrite"])
    assert forced.code == 0
    assert json.loads((repo / "schemas/orders/1.avsc").read_text()) == ORDER_V1


def test_no_registry_given_is_one_line(repo: Path) -> None:
    write_catalog(repo, [ORDER_V1])
    outcome = invoke(["schema", "push"])
    assert outcome.code == 2
    assert "no schema registry given" in outcome.stderr
    assert "Traceback" not in outcome.stderr
