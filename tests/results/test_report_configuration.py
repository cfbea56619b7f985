"""The report says how the run was configured, in every format, and never a secret (issue 11 item 10);
per-type `results` are counted; the JSON keeps `format` and says `format_version` 1.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.results.runfixtures import Ev, write_run

from evtool.cli.views import render_report_text
from evtool.results.render_html import render_html
from evtool.results.render_markdown import render_markdown
from evtool.results.report import build_document, load_stats, render_json
from evtool.results.runlog import RunMeta, Status

SECRETS = ("Bearer-s3cr3t-token", "hunter2", "sasl-pw-xyz")


def _configured_run(tmp_path: Path) -> Path:
    events = [Ev(f"k{i}", i * 100, result_ms=[i * 100 + 60]) for i in range(20)]
    run_dir = write_run(tmp_path / "run", events, target="kafka://127.0.0.1:9092/orders",
                        transport={"transport": "kafka", "topic": "orders", "acks": "all",
                                   "linger.ms": 5, "sasl.password": "sasl-pw-xyz"})
    meta = RunMeta.read(run_dir)
    meta.tool_version = "9.8.7"
    # what a careless writer might record: literal secrets in a header, a -X property and an option
    meta.command = ["evtool", "simulate", "-t", "kafka://127.0.0.1:9092/orders", "--rate", "250/s",
                    "-H", "Authorization: Bearer-s3cr3t-token", "-X", "sasl.password=hunter2",
                    "--header=X-Api-Key: hunter2"]
    meta.options = {"rate": "250/s", "arrival": "poisson", "stages": None, "duration": "2m",
                    "mix": "commerce.order.placed:3,support.complaint.filed:1",
                    "schema_versions": "commerce.order.placed:2=50%,3=50%", "seed": 42,
                    "headers": ["Authorization: Bearer-s3cr3t-token", "X-Team: env:TEAM"],
                    "api_token": "hunter2", "retries": 2, "collect": "127.0.0.1:9000"}
    meta.write(run_dir)
    return run_dir


def _every_format(doc: dict[str, Any]) -> dict[str, str]:
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    render_report_text(doc, console)
    return {"text": console.export_text(), "json": render_json(doc), "markdown": render_markdown(doc),
            "html": render_html(doc)}


def test_every_format_shows_the_runs_configuration_and_no_secret(tmp_path: Path) -> None:
    run_dir = _configured_run(tmp_path)
    doc = build_document(load_stats([run_dir], target_ns=2_000_000_000, window_ns=5_000_000_000))
    items = {i["name"]: i["value"] for i in doc["configuration"][0]["items"]}
    assert items["tool version"] == "evtool 9.8.7"
    assert items["target"] == "kafka://127.0.0.1:9092/orders (kafka)"
    assert items["rate"] == "250/s"
    assert items["arrival"] == "poisson"
    assert items["duration"] == "2m"
    assert items["mix"] == "commerce.order.placed:3,support.complaint.filed:1"
    assert items["schema versions"] == "commerce.order.placed:2=50%,3=50%"
    assert items["headers"] == "Authorization: ***, X-Team: env:TEAM"  # an env: reference is no secret
    assert items["api token"] == "***"
    assert "acks=all" in items["transport settings"]
    assert "linger.ms=5" in items["transport settings"]
    assert "sasl.password=***" in items["transport settings"]
    assert items["command"].startswith("evtool simulate -t kafka://127.0.0.1:9092/orders --rate 250/s")
    assert "-X 'sasl.password=***'" in items["command"] or "-X sasl.password=***" in items["command"]
    assert "stages" not in items  # unset options are not listed
    for fmt, text in _every_format(doc).items():
        for secret in SECRETS:
            assert secret not in text, (fmt, secret)
        for expected in ("9.8.7", "250/s", "poisson", "2m", "acks=all", "linger.ms=5",
                         "commerce.order.placed:3,support.complaint.filed:1",
                         "commerce.order.placed:2=50%,3=50%"):
            assert expected in text, (fmt, expected)
    assert "<h2 id='configuration'>Configuration</h2>" in render_html(doc)


def test_json_format_version_is_1_2_and_format_stays_1(tmp_path: Path) -> None:
    doc = json.loads(render_json(build_document(load_stats(
        [_configured_run(tmp_path)], target_ns=2_000_000_000, window_ns=5_000_000_000))))
    assert doc["format"] == 1
    assert doc["format_version"] == "1.2"
    assert doc["runs"][0]["tool_version"] == "9.8.7"
    assert doc["runs"][0]["options"]["arrival"] == "poisson"


def test_per_type_results_are_counted(tmp_path: Path) -> None:
    """Each type's `results` are its events that got a result; late ones are `late_results` too; what
    no type owns (duplicates, results matching no event) is null there, counted at the top level."""
    events = [Ev(f"o{i}", i * 10, result_ms=[i * 10 + 50], event_type="order") for i in range(30)]
    events += [Ev("o-dup", 400, result_ms=[450, 460], event_type="order")]  # one duplicate
    events += [Ev(f"c{i}", i * 10, result_ms=[i * 10 + 80], event_type="complaint") for i in range(10)]
    events += [Ev("c-late", 500, result_ms=[500 + 15_000], event_type="complaint")]  # after the timeout
    events += [Ev("c-lost", 510, event_type="complaint"),
               Ev("c-failed", 520, status=Status.FAILED, event_type="complaint")]
    run_dir = write_run(tmp_path / "run", events, extra_results=[("stranger", 100)])
    doc = json.loads(render_json(build_document(load_stats(
        [run_dir], target_ns=2_000_000_000, window_ns=5_000_000_000))))
    by_type = {g["type"]: g["counts"] for g in doc["by_type"]}
    assert by_type["order"]["results"] == 31
    assert by_type["complaint"]["results"] == 11
    assert by_type["complaint"]["late_results"] == 1
    assert by_type["complaint"]["lost"] == 2
    assert by_type["order"]["matched_results"] == 31
    assert by_type["order"]["duplicate_results"] is None
    assert by_type["order"]["unmatched_results"] is None
    top = doc["counts"]
    assert (top["results"], top["matched_results"], top["duplicate_results"], top["unmatched_results"]) == (
        44, 43, 1, 1)
    assert sum(c["results"] for c in by_type.values()) == top["matched_results"] - top["duplicate_results"]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_per_type_results_are_shown(tmp_path: Path, fmt: str) -> None:
    events = [Ev(f"o{i}", i * 10, result_ms=[i * 10 + 50], event_type="order") for i in range(7)]
    events += [Ev(f"c{i}", i * 10, event_type="complaint") for i in range(3)]
    doc = build_document(load_stats([write_run(tmp_path / "run", events)], target_ns=2_000_000_000,
                                    window_ns=5_000_000_000))
    text = _every_format(doc)[fmt]
    assert "results" in text
    if fmt == "text":
        row = next(line for line in text.splitlines() if line.startswith("order"))
        assert row.split()[:5] == ["order", "1", "7", "7", "0"], row  # type, v, events, results, failed
