"""`evtool generate` through the CLI: formats, reproducibility, version mixes, bad input."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import fastavro
import pytest
from tests.support.cli import installed_evtool

from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir
from evtool.cli.app import run
from evtool.events import EventValidator, iter_events


@pytest.fixture(autouse=True)
def _empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no evtool.toml is: the bundled catalogue is the fallback."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)


def _lines(capsys: pytest.CaptureFixture[bytes], argv: list[str]) -> list[dict[str, object]]:
    assert run(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_jsonl_is_valid_cloudevents_reproducible_from_a_seed(
    capsys: pytest.CaptureFixture[bytes], tmp_path: Path
) -> None:
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert run(["generate", "-n", "300", "--seed", "7", "--out", str(first)]) == 0
    assert run(["generate", "-n", "300", "--seed", "7", "--out", str(second)]) == 0
    assert run(["generate", "-n", "300", "--seed", "8", "--out", str(other)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    validator = EventValidator(load_catalog(bundled_schema_dir()))
    events = list(iter_events(first))
    assert len(events) == 300
    assert all(validator.check(event) is None for event in events)
    types = Counter(event.type for event in events)
    assert set(types) == {
        "commerce.order.placed", "inventory.stock.low", "payments.refund.issued", "support.complaint.filed"
    }


def test_version_mix_writes_both_versions_in_proportion(capsys: pytest.CaptureFixture[bytes]) -> None:
    events = _lines(
        capsys, ["generate", "-n", "2000", "--mix", "complaint=1", "--schema-versions", "1:30,3:70"]
    )
    versions = Counter(str(e["dataschema"]).rsplit(":", 1)[1] for e in events)
    assert set(versions) == {"1", "3"}
    assert 0.25 < versions["1"] / 2000 < 0.35


def test_avro_container_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "events.avro"
    assert run(["generate", "-n", "50", "--flow", "order-lifecycle", "--format", "avro", "-o", str(out)]) == 0
    with out.open("rb") as handle:
        assert sum(1 for _ in fastavro.reader(handle)) == 50
    assert len(list(iter_events(out))) == 50


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["generate", "--mix", "order=70,refund=30"], "unknown event type 'refund'"),
        (["generate", "--mix", "order=seventy"], "order=seventy"),
        (["generate", "-n", "0"], "positive integer"),
        (["generate", "-n", "ten"], "positive integer"),
        (["generate", "--flow", "checkout-saga"], "unknown flow 'checkout-saga'"),
        (["generate", "--mix", "order=1", "--flow", "order-lifecycle"], "exclude each other"),
        (["generate", "--schema-version", "9", "--mix", "order=1"], "no version 9"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "Traceback" not in captured.err


def test_failed_run_leaves_an_existing_output_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "keep.jsonl"
    out.write_text("earlier work\n")
    assert run(["generate", "--mix", "nope=1", "-o", str(out)]) == 2
    assert out.read_text() == "earlier work\n"
    assert not list(tmp_path.glob(".keep.jsonl.partial"))


@pytest.mark.e2e
def test_installed_command_streams_to_a_closed_pipe_without_error() -> None:
    script = installed_evtool()
    done = subprocess.run(
        f"'{script}' generate -n 100000 | head -n 2", shell=True, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr
