"""Redaction and input checks of load/targets/base.py: what may be stored, what may be sent."""

from __future__ import annotations

import pytest

from evtool.errors import UsageError
from evtool.load.targets import validate_target
from evtool.load.targets.base import Header, TargetOptions, parse_header, redact_argv, redact_url


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("http://127.0.0.1:8080/events", "http://127.0.0.1:8080/events"),
        ("http://h/e?api_key=S1&tenant=S2", "http://h/e?api_key=***&tenant=***"),
        ("http://h/e?S3", "http://h/e?***"),
        ("http://h/e?a=&b=S4", "http://h/e?a=&b=***"),
        ("http://u:S5@h:81/e", "http://u:***@h:81/e"),
        ("http://u@h/e", "http://u@h/e"),
        ("http://h/e#access_token=S6", "http://h/e#access_token=***"),
        ("http://h:99999/e?k=S7", "http://h:99999/e?k=***"),
        ("http://[::1/e?k=S8", "http://[::1/e?***"),
        ("file:out.jsonl", "file:out.jsonl"),
    ],
)
def test_redact_url_keeps_no_query_value_or_password(url: str, stored: str) -> None:
    assert redact_url(url) == stored


def test_redact_argv_in_every_spelling() -> None:
    argv = [
        "evtool", "simulate", "-t", "http://h/?k=S1", "-H", "X-A: S2", "-HX-B: S3", "-qH", "X-C: S4",
        "--header=X-D: S5", "--header", "X-E: env:VAR", "--target=http://u:S6@h/", "-qthttp://h/?k=S7",
        "-H", "no colon S8", "--rate", "5/s",
    ]  # fmt: skip
    stored = redact_argv(argv)
    assert not any(f"S{n}" in arg for arg in stored for n in range(1, 9)), stored
    assert stored[-2:] == ["--rate", "5/s"]
    assert "X-E: env:VAR" in stored  # a reference names a variable; it is not the secret
    assert "X-A: ***" in stored


def test_literal_header_values_are_never_stored_whatever_the_name() -> None:
    assert Header("X-Custom-Auth", "S1").redacted() == "X-Custom-Auth: ***"
    assert Header("X-Tenant", "acme").redacted() == "X-Tenant: ***"
    assert Header("Authorization", "env:TOKEN").redacted() == "Authorization: env:TOKEN"


@pytest.mark.parametrize("text", ["Bearer S1", "Bad Name: S1", "X-\r\nY: S1"])
def test_a_malformed_header_is_refused_without_repeating_its_value(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_header(text)
    assert "S1" not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "why"),
    [("a\r\nX-Injected: 1", "line break"), ("a\nb", "line break"), ("a\x7fb", "control character"),
     ("€", "outside Latin-1")],
)  # fmt: skip
def test_values_http_cannot_carry_are_refused(monkeypatch: pytest.MonkeyPatch, value: str, why: str) -> None:
    monkeypatch.setenv("EVTOOL_TEST_VALUE", value)
    for header in (Header("X-T", value), Header("X-T", "env:EVTOOL_TEST_VALUE")):
        with pytest.raises(UsageError, match=rf"-H X-T: .*{why}") as info:
            validate_target(TargetOptions("http://127.0.0.1:1/e", headers=(header,)))
        assert value not in str(info.value)
    assert Header("X-T", "tab\tand é are fine").resolve() == "tab\tand é are fine"


@pytest.mark.parametrize("port", ["99999", "abc", "0", "65536", "-1"])
def test_a_port_that_cannot_be_is_refused(port: str) -> None:
    with pytest.raises(UsageError, match=r"--target .*port must be a number from 1 to 65535"):
        validate_target(TargetOptions(f"http://127.0.0.1:{port}/e?k=S1"))


def test_userinfo_and_an_authorization_header_are_one_too_many() -> None:
    with pytest.raises(UsageError, match=r"user info .* -H Authorization"):
        validate_target(TargetOptions("http://u:p@127.0.0.1:1/e", headers=(Header("Authorization", "x"),)))
