"""Protobuf verdicts against cases written from Confluent's documented rules (fixtures/conformance/
protobuf-cases.jsonl): each case's BACKWARD and FORWARD verdict, the failing difference kinds, the
lossy warnings, and for every failure a counterexample decoded with the reader (or the reason why
encode/decode cannot show it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evtool.catalog import load_catalog
from evtool.compat.check import check_catalog
from evtool.config import Settings
from evtool.formats.findings import CheckReport, Direction
from evtool.modes import CompatibilityMode

CASES = Path(__file__).resolve().parents[3] / "fixtures/conformance/protobuf-cases.jsonl"


def _cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]


def _check(tmp_path: Path, old: str, new: str, mode: CompatibilityMode) -> CheckReport:
    subject = tmp_path / "payments.refund.issued"
    subject.mkdir(exist_ok=True)
    (subject / "1.proto").write_text(old)
    (subject / "2.proto").write_text(new)
    return check_catalog(load_catalog(tmp_path), Settings(schema_dir=tmp_path), mode=mode)


def test_the_cases_cover_every_failing_kind() -> None:
    codes = {code for case in _cases() for code in case["backward_codes"]}
    from evtool.formats.protobuf.compat import FAILING

    assert codes == FAILING
    assert len(_cases()) >= 35


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_case(tmp_path: Path, case: dict[str, Any]) -> None:
    report = _check(tmp_path, case["old"], case["new"], CompatibilityMode.FULL)
    backward = [f for f in report.errors if f.direction is Direction.BACKWARD]
    forward = [f for f in report.errors if f.direction is Direction.FORWARD]
    assert (not backward) is case["backward"], [f.message for f in backward]
    assert (not forward) is case["forward"], [f.message for f in forward]
    assert sorted({f.code for f in backward}) == sorted(case["backward_codes"])
    warnings = {w.code for w in report.warnings if w.direction is Direction.BACKWARD}
    assert warnings == set(case["backward_warnings"])
    for finding in [*backward, *forward, *report.warnings]:
        assert finding.counterexample is not None or finding.no_counterexample_reason, finding
        assert finding.location.line is not None, finding


def test_strict_turns_lossy_warnings_into_findings(tmp_path: Path) -> None:
    case = next(c for c in _cases() if c["name"] == "int64 to int32 passes but truncates")
    subject = tmp_path / "payments.refund.issued"
    subject.mkdir()
    (subject / "1.proto").write_text(case["old"])
    (subject / "2.proto").write_text(case["new"])
    catalog = load_catalog(tmp_path)
    assert check_catalog(catalog, Settings(schema_dir=tmp_path)).ok
    strict = check_catalog(catalog, Settings(schema_dir=tmp_path), strict=True)
    assert [f.code for f in strict.errors] == ["lossy-field-scalar-kind-changed-within-group"]
    assert not strict.ok
