"""The registry client against a served registry (the fake: see tests/support/fake_schema_registry.py)."""

from __future__ import annotations

import json

import pytest
from tests.support.fake_schema_registry import FakeSchemaRegistry, fake_schema_registry
from tests.support.http_servers import free_port
from tests.support.schema_histories import ORDER_V1, ORDER_V2, ORDER_V3_BREAKING

from evtool.errors import UsageError
from evtool.registry.client import RegistryAuth, RegistryClient, RegistryError, RegistrySettings


def client(url: str, auth: RegistryAuth | None = None) -> RegistryClient:
    return RegistryClient(RegistrySettings(url=url, auth=auth or RegistryAuth()))


def test_errors_are_raised_by_their_code_names(registry: FakeSchemaRegistry) -> None:
    with client(registry.url) as sr:
        assert sr.versions("orders-value") == []  # subject not found is "no versions", not an error
        with pytest.raises(RegistryError) as missing:
            sr.schema("orders-value", 1)
        assert missing.value.name == "SUBJECT_NOT_FOUND"
        assert missing.value.not_found
        with pytest.raises(RegistryError) as invalid:
            sr.register("orders-value", "{not json", "AVRO")
        assert invalid.value.name == "INVALID_SCHEMA"
        sr.register("orders-value", json.dumps(ORDER_V2), "AVRO")
        with pytest.raises(RegistryError) as incompatible:
            sr.register("orders-value", json.dumps(ORDER_V3_BREAKING), "AVRO")
        assert incompatible.value.incompatible  # the legacy 409 spelling counts as incompatible too
        with pytest.raises(RegistryError) as version:
            sr.schema("orders-value", 7)
        assert version.value.name == "VERSION_NOT_FOUND"


def test_register_is_idempotent_and_lookup_finds_the_version(registry: FakeSchemaRegistry) -> None:
    with client(registry.url) as sr:
        first = sr.register("orders-value", json.dumps(ORDER_V1), "AVRO")
        again = sr.register("orders-value", json.dumps(ORDER_V1, indent=4), "AVRO")  # formatting is no change
        assert first == again
        found = sr.lookup("orders-value", json.dumps(ORDER_V1), "AVRO")
        assert found is not None
        assert found.version == 1
        assert found.id == first
        assert sr.lookup("orders-value", json.dumps(ORDER_V2), "AVRO") is None
        assert sr.versions("orders-value") == [1]


def test_level_falls_back_to_the_global_one(registry: FakeSchemaRegistry) -> None:
    registry.global_level = "FULL"
    registry.levels["orders-value"] = "BACKWARD_TRANSITIVE"
    with client(registry.url) as sr:
        assert sr.level("orders-value") == "BACKWARD_TRANSITIVE"
        assert sr.level("payments-value") == "FULL"


def test_basic_auth_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR_SECRET", "s3cret")
    with fake_schema_registry(FakeSchemaRegistry(basic_auth=("key", "s3cret"))) as served:
        with client(served.url, RegistryAuth("key", "env:SR_SECRET")) as sr:
            assert sr.subjects() == []
        with client(served.url) as anonymous, pytest.raises(RegistryError) as refused:
            anonymous.subjects()
        assert refused.value.status == 401
        assert "credentials" in (refused.value.hint or "")
        assert "s3cret" not in str(refused.value)


def test_a_secret_written_in_the_file_or_a_missing_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SR_SECRET", raising=False)
    with pytest.raises(UsageError, match="SR_SECRET is not set"):
        client("http://127.0.0.1:1", RegistryAuth("key", "env:SR_SECRET"))
    with pytest.raises(UsageError, match="holds a secret"):
        client("http://127.0.0.1:1", RegistryAuth(token="plain-token"))


def test_an_unreachable_registry_is_one_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with client(url) as sr, pytest.raises(RegistryError, match="unreachable") as failed:
        sr.subjects()
    assert url in str(failed.value)
