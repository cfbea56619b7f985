"""Defaults of `generate` and `simulate` in a user's own project: the mix is the project's
catalogue (never the bundled type names), and the seed is fresh each run, printed, repeatable."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from collections import Counter
from pathlib import Path

import pytest
from tests.support.cli import run_evtool

_SEED_LINE = re.compile(r"seed (\d+) \(repeat with --seed \1\)")


def _schema(title: str) -> str:
    return json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "required": ["id", "amount"],
        "properties": {"id": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}},
        "additionalProperties": False,
    })


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project of its own: two subjects none of which is a bundled type, one weighted in evtool.toml."""
    (tmp_path / ".git").mkdir()  # the config walk stops here, not in the test runner's checkout
    for subject in ("billing.invoice.issued", "shipping.parcel.sent"):
        (tmp_path / "schemas" / subject).mkdir(parents=True)
        (tmp_path / "schemas" / subject / "1.json").write_text(_schema(subject))
    (tmp_path / "evtool.toml").write_text(
        'schema_dir = "schemas"\n\n[subjects."billing.invoice.issued"]\nweight = 3\n'
    )
    return tmp_path


def _types(stdout: str) -> Counter[str]:
    return Counter(json.loads(line)["type"] for line in stdout.splitlines())


def test_generate_default_mix_is_the_projects_catalogue_with_its_weights(project: Path) -> None:
    done = run_evtool("generate", "-n", "4000", "--seed", "1", cwd=project)
    assert done.returncode == 0, done.stderr
    counts = _types(done.stdout)
    assert set(counts) == {"billing.invoice.issued", "shipping.parcel.sent"}
    # weight 3 against the unweighted subject's 1: three quarters of the events
    assert 2700 < counts["billing.invoice.issued"] < 3300


def test_generate_default_mix_is_equal_without_weights(project: Path) -> None:
    (project / "evtool.toml").write_text('schema_dir = "schemas"\n')
    done = run_evtool("generate", "-n", "4000", "--seed", "1", cwd=project)
    assert done.returncode == 0, done.stderr
    counts = _types(done.stdout)
    assert 1800 < counts["billing.invoice.issued"] < 2200
    assert 1800 < counts["shipping.parcel.sent"] < 2200


def test_a_weight_that_is_not_a_positive_number_is_one_line_and_exit_2(project: Path) -> None:
    (project / "evtool.toml").write_text('[subjects."billing.invoice.issued"]\nweight = "lots"\n')
    done = run_evtool("generate", "-n", "1", cwd=project)
    assert done.returncode == 2
    assert "subjects.billing.invoice.issued.weight" in done.stderr
    assert "Traceback" not in done.stderr


def test_simulate_default_mix_is_the_projects_catalogue(project: Path) -> None:
    out = project / "sent.jsonl"
    done = run_evtool(
        "simulate", "--target", f"file:{out}", "--rate", "200/s", "--count", "200", "--quiet",
        "--run-dir", str(project / "run"),
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    assert "unknown event type" not in done.stderr
    assert set(_types(out.read_text())) == {"billing.invoice.issued", "shipping.parcel.sent"}


def _seed_of(stderr: str) -> int:
    found = _SEED_LINE.search(stderr)
    assert found, f"no seed line on stderr: {stderr!r}"
    return int(found.group(1))


def test_generate_without_seed_differs_each_run_and_the_printed_seed_repeats_it(project: Path) -> None:
    first = run_evtool("generate", "-n", "20", cwd=project)
    second = run_evtool("generate", "-n", "20", cwd=project)
    assert first.returncode == second.returncode == 0
    ids_first = [json.loads(line)["id"] for line in first.stdout.splitlines()]
    ids_second = [json.loads(line)["id"] for line in second.stdout.splitlines()]
    assert set(ids_first).isdisjoint(ids_second)
    seed = _seed_of(first.stderr)
    assert seed != _seed_of(second.stderr)
    again = run_evtool("generate", "-n", "20", "--seed", str(seed), cwd=project)
    assert again.returncode == 0
    assert again.stdout == first.stdout  # byte-identical
    assert _seed_of(again.stderr) == seed


def test_simulate_records_its_fresh_seed_and_repeats_with_it(project: Path) -> None:
    # simulate's ids are the run's own (so results of other runs are told apart): compare the data
    def simulate(name: str, *seed: str) -> tuple[int, list[str]]:
        out = project / f"{name}.jsonl"
        done = run_evtool(
            "simulate", "--target", f"file:{out}", "--rate", "500/s", "--count", "50", "--quiet",
            "--run-dir", str(project / name), *seed,
            cwd=project,
        )
        assert done.returncode == 0, done.stderr
        meta = json.loads((project / name / "meta.json").read_text())
        recorded = meta["options"]["seed"]
        assert recorded == _seed_of(done.stderr)
        events = [json.loads(line) for line in out.read_text().splitlines()]
        return recorded, [json.dumps([e["type"], e["data"]], sort_keys=True) for e in events]

    seed_a, data_a = simulate("a")
    seed_b, data_b = simulate("b")
    assert seed_a != seed_b
    assert set(data_a).isdisjoint(data_b)
    seed_c, data_c = simulate("c", "--seed", str(seed_a))
    assert seed_c == seed_a
    assert data_c == data_a


def test_out_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(tmp_path: Path) -> None:
    """`--out /dev/null` once renamed a regular file over /dev/null; a FIFO shows the same path
    (a special file is written into, never replaced) without touching the machine's devices."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = run_evtool("generate", "-n", "5", "--seed", "3", "--out", str(fifo), cwd=tmp_path)
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert len(received[0].splitlines()) == 5
    assert not list(tmp_path.glob(".*.partial"))


def test_out_to_a_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_evtool("generate", "-n", "5", "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot write" in done.stderr
    assert "Traceback" not in done.stderr
