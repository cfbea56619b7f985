"""The registry accepts these changes; each warning carries the event that shows the data changing,
proven by encoding with the writer's descriptors and decoding with the reader's."""

from __future__ import annotations

from pathlib import Path

import pytest

from evtool.catalog import load_catalog
from evtool.compat.check import check_catalog
from evtool.config import Settings

HEAD = 'syntax = "proto3";\npackage payments.v1;\nmessage RefundIssued {\n  string refund_id = 1;\n'


@pytest.mark.parametrize(
    ("old", "new", "written", "read"),
    [
        ("int64 amount_minor = 2;", "int32 amount_minor = 2;",
         "'amount_minor': '8589934599'", "'amount_minor': 7"),
        ("uint32 units = 2;", "int32 units = 2;", "'units': 4294967295", "'units': -1"),
        ("int32 partial = 2;", "bool partial = 2;", "'partial': 2", "'partial': True"),
        ("repeated string notes = 2;", "optional string notes = 2;",
         "'notes': ['rf-1', 'rf-2']", "'notes': 'rf-2'"),
        ("int64 discount_minor = 2;", "int64 loyalty_points = 2; string x = 3;", None, None),
    ],
)
def test_lossy_change_is_a_warning_with_its_proof(
    tmp_path: Path, old: str, new: str, written: str | None, read: str | None
) -> None:
    subject = tmp_path / "payments.refund.issued"
    subject.mkdir()
    (subject / "1.proto").write_text(HEAD + f"  {old}\n}}\n")
    (subject / "2.proto").write_text(HEAD + f"  {new}\n}}\n")
    report = check_catalog(load_catalog(tmp_path), Settings(schema_dir=tmp_path))
    assert report.ok  # Confluent's verdict stands
    if written is None:  # a plain rename with the same type is not a reused number
        assert report.warnings == []
        return
    assert len(report.warnings) == 1
    example = report.warnings[0].counterexample
    assert example is not None
    assert written in str(example.event["data"])
    assert read in example.proof
