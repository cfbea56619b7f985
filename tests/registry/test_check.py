"""`schema check --registry`: new local versions judged under the registry's levels, its verdict beside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import invoke
from tests.support.fake_schema_registry import FakeSchemaRegistry
from tests.support.schema_histories import ORDER_V1, ORDER_V2, ORDER_V3_BREAKING, write_catalog


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(registry: FakeSchemaRegistry, *extra: str) -> tuple[int, dict[str, object], str]:
    outcome = invoke(["schema", "check", "--registry", registry.url, "--format", "json", *extra])
    return outcome.code, json.loads(outcome.stdout) if outcome.stdout.strip() else {}, outcome.stderr


def test_a_breaking_new_version_fails_with_its_counterexample_and_the_registrys_verdict(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    write_catalog(repo, [ORDER_V1, ORDER_V2, ORDER_V3_BREAKING])
    registry.levels["orders-value"] = "BACKWARD"
    registry.add("orders-value", ORDER_V1)
    registry.add("orders-value", ORDER_V2)
    code, report, _ = check(registry)
    assert code == 1
    assert report["modes"] == {"orders": "BACKWARD"}  # the registry's level, not evtool.toml's NONE
    [finding] = report["findings"]  # type: ignore[misc]
    assert finding["new_version"] == 3
    assert finding["old_version"] == 2
    assert finding["counterexample"] is not None
    [verdict] = report["registry"]  # type: ignore[misc]
    assert verdict == {
        **verdict,
        "version": 3,
        "registry_compatible": False,
        "evtool_compatible": False,
        "agrees": True,
        "registry_subject": "orders-value",
    }
    assert verdict["messages"]  # the fake's Apache Avro checker says why
    assert registry.writes == []  # a check registers nothing


def test_transitive_levels_check_against_every_registered_version_even_ones_git_no_longer_has(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    v1_with_coupon = {**ORDER_V1, "fields": [*ORDER_V1["fields"], {"name": "couponCode", "type": "string"}]}
    registry.global_level = "FORWARD_TRANSITIVE"
    registry.add("orders-value", v1_with_coupon)  # version 1 has a field without default
    v2 = {**v1_with_coupon, "fields": [*v1_with_coupon["fields"], ORDER_V2["fields"][-1]]}
    registry.add("orders-value", v2)
    # the repository keeps only versions 2 and 3; version 3 drops couponCode: readers of v1 and v2 break
    folder = repo / "schemas" / "orders"
    write_catalog(repo, [])
    (folder / "2.avsc").write_text(json.dumps(v2))
    (folder / "3.avsc").write_text(json.dumps(ORDER_V1))
    code, report, _ = check(registry)
    assert code == 1
    assert {(f["old_version"], f["new_version"]) for f in report["findings"]} == {(1, 3), (2, 3)}  # type: ignore[union-attr]


def test_a_registered_version_edited_in_git_is_an_immutability_finding(
    repo: Path, registry: FakeSchemaRegistry
) -> None:
    write_catalog(repo, [ORDER_V2])
    registry.add("orders-value", ORDER_V1)
    code, report, _ = check(registry)
    assert code == 1
    assert [f["code"] for f in report["findings"]] == ["published-version-modified"]  # type: ignore[union-attr]


def test_a_disagreement_with_the_registry_is_flagged(repo: Path, registry: FakeSchemaRegistry) -> None:
    # Renamed with an unqualified alias in the same namespace: Java Avro (and evtool) resolve the
    # alias in the record's namespace and accept; Apache Avro's Python checker does not.
    renamed = {**ORDER_V1, "name": "OrderCreated", "aliases": ["OrderPlaced"]}
    write_catalog(repo, [ORDER_V1, renamed])
    registry.add("orders-value", ORDER_V1)
    code, report, _ = check(registry)
    assert code == 0
    [verdict] = report["registry"]  # type: ignore[misc]
    assert verdict["evtool_compatible"] is True
    assert verdict["registry_compatible"] is False
    assert verdict["agrees"] is False
    text = invoke(["schema", "check", "--registry", registry.url])
    assert "registry DISAGREES: orders-value v2 incompatible under BACKWARD" in text.stdout


def test_record_naming_maps_folders_to_record_names(repo: Path, registry: FakeSchemaRegistry) -> None:
    write_catalog(repo, [ORDER_V1, ORDER_V3_BREAKING], config='[registry]\nnaming = "record"\n')
    registry.add("com.acme.orders.OrderPlaced", ORDER_V1)
    code, report, _ = check(registry)
    assert code == 1
    assert report["registry"][0]["registry_subject"] == "com.acme.orders.OrderPlaced"


def test_no_registry_and_against_together_is_a_usage_error(repo: Path, registry: FakeSchemaRegistry) -> None:
    write_catalog(repo, [ORDER_V1])
    outcome = invoke(["schema", "check", "--registry", registry.url, "--against", "main"])
    assert outcome.code == 2
    assert "--registry and --against" in outcome.stderr
    assert "Traceback" not in outcome.stderr
