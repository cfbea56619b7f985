"""The shared Avro conformance cases: our verdicts must equal the expected (Confluent) ones.

``expect`` is the verdict for the pair (old, new). A case with ``history`` also lists the
versions before ``old``; for the transitive modes the new schema must also be checked
against each of them, and there we compare with an independent implementation, Apache's
``avro.compatibility`` (whose only known deviation from Java, unqualified reader aliases,
no history case uses).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import avro.schema as apache_schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from evtool.formats.avro import compat as avro

# A copy of ../shared/conformance/compat-cases.jsonl, kept in the repository so a clean clone tests alone.
DEFAULT_CASES = Path(__file__).resolve().parents[3] / "fixtures/conformance/compat-cases.jsonl"


def _cases_path() -> Path:
    return Path(os.environ.get("EVTOOL_CONFORMANCE", str(DEFAULT_CASES)))


MISSING: dict[str, Any] = {"id": "conformance-file-missing"}


def _require(case: dict[str, Any]) -> None:
    if case is MISSING:
        pytest.fail(f"conformance cases not found at {_cases_path()} (set EVTOOL_CONFORMANCE)")


def _load() -> list[dict[str, Any]]:
    path = _cases_path()
    if not path.is_file():
        return [MISSING]  # one case that fails, so a missing file cannot pass as "nothing to test"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip() and json.loads(line)["format"] == "avro"]


CASES = _load()


def test_cases_file_is_present_and_has_avro_cases() -> None:
    path = _cases_path()
    assert path.is_file(), f"conformance cases not found at {path} (set EVTOOL_CONFORMANCE)"
    assert len([c for c in CASES if c is not MISSING]) >= 10


def _parse(doc: Any, name: str) -> avro.AvroSchema:
    return avro.parse(doc, source=name)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_pair_verdicts_match_expectation(case: dict[str, Any]) -> None:
    _require(case)
    old = _parse(case["old"], "old")
    new = _parse(case["new"], "new")
    backward = avro.incompatibilities(new, old)
    forward = avro.incompatibilities(old, new)
    assert (not backward) == case["expect"]["backward"], backward
    assert (not forward) == case["expect"]["forward"], forward
    for found in backward + forward:
        assert found.counterexample is not None or found.no_counterexample_reason


def _apache_ok(reader: Any, writer: Any) -> bool:
    r = apache_schema.parse(json.dumps(reader))
    w = apache_schema.parse(json.dumps(writer))
    result = ReaderWriterCompatibilityChecker().get_compatibility(r, w)  # type: ignore[no-untyped-call]
    return result.compatibility is SchemaCompatibilityType.compatible


HISTORY = [c for c in CASES if c.get("history") or c is MISSING]


@pytest.mark.parametrize("case", HISTORY, ids=[c["id"] for c in HISTORY])
def test_transitive_verdicts_over_history(case: dict[str, Any]) -> None:
    _require(case)
    new_doc = case["new"]
    new = _parse(new_doc, "new")
    earlier_docs = [*case["history"], case["old"]]
    earlier = [_parse(d, f"v{i + 1}") for i, d in enumerate(earlier_docs)]
    back_each = [not avro.incompatibilities(new, e) for e in earlier]
    fwd_each = [not avro.incompatibilities(e, new) for e in earlier]
    # the newest earlier version is the non-transitive pair the case states
    assert back_each[-1] == case["expect"]["backward"]
    assert fwd_each[-1] == case["expect"]["forward"]
    # every older version judged like an independent implementation judges it
    assert back_each == [_apache_ok(new_doc, d) for d in earlier_docs]
    assert fwd_each == [_apache_ok(d, new_doc) for d in earlier_docs]
