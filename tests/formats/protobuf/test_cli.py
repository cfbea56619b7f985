"""`.proto` subjects through the commands: check, diff, generate (JSON and length-delimited binary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import invoke

from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir
from evtool.errors import ExitCode
from evtool.events import CloudEvent, EventValidator
from evtool.formats.protobuf import FORMAT

REFUND = "payments.refund.issued"


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def test_bundled_refund_subject_passes_its_mode_and_generates_valid_events() -> None:
    checked = invoke(["schema", "check"])
    assert checked.code == ExitCode.OK, checked.stderr
    assert f"✓ {REFUND} BACKWARD_TRANSITIVE" in checked.stdout
    made = invoke(["generate", "--mix", f"{REFUND}=1", "-n", "50", "--seed", "3", "--validate"])
    assert made.code == ExitCode.OK, made.stderr
    events = [json.loads(line) for line in made.stdout.splitlines()]
    assert len(events) == 50
    validator = EventValidator(load_catalog(bundled_schema_dir()))
    methods: set[str] = set()
    for raw in events:
        assert validator.check(CloudEvent.from_dict(raw)) is None
        data = raw["data"]
        methods |= {"card", "bank_transfer", "store_credit_minor"} & data.keys()
        assert data["reason"] != "REASON_UNSPECIFIED"
    assert len(methods) >= 2  # the oneof is exercised, one branch per event
    assert all(len({"card", "bank_transfer", "store_credit_minor"} & e["data"].keys()) == 1 for e in events)


def test_generate_protobuf_writes_length_delimited_messages(tmp_path: Path) -> None:
    out = tmp_path / "refunds.bin"
    made = invoke(["generate", "--mix", f"{REFUND}=1", "-n", "20", "--seed", "5", "--format", "protobuf",
                   "--out", str(out)])
    assert made.code == ExitCode.OK, made.stderr
    data = out.read_bytes()
    schema = load_catalog(bundled_schema_dir()).subject(REFUND).latest
    cls = FORMAT.message_class(schema)
    at, decoded = 0, []
    while at < len(data):
        size, at = _varint(data, at)
        decoded.append(cls.FromString(data[at : at + size]))
        at += size
    assert len(decoded) == 20
    assert all(m.refund_id and m.amount_minor >= 0 for m in decoded)


def test_generate_protobuf_refuses_other_formats(tmp_path: Path) -> None:
    made = invoke(["generate", "--mix", "order=1", "-n", "2", "--format", "protobuf",
                   "--out", str(tmp_path / "x.bin")])
    assert made.code == ExitCode.USAGE
    assert "writes Protobuf subjects only" in made.stderr
    assert not (tmp_path / "x.bin").exists()


@pytest.mark.parametrize(("change", "code"), [
    ("  int64 amount_minor = 2;\n", ExitCode.OK),
    ("  string amount_minor = 2;\n", ExitCode.CHECK_FAILED),
])
def test_schema_diff_on_proto_files(tmp_path: Path, change: str, code: ExitCode) -> None:
    head = 'syntax = "proto3";\npackage payments.v1;\nmessage RefundIssued {\n  string refund_id = 1;\n'
    (tmp_path / "s").mkdir()
    old, new = tmp_path / "s" / "1.proto", tmp_path / "s" / "2.proto"
    old.write_text(head + "  int32 amount_minor = 2;\n}\n")
    new.write_text(head + change + "}\n")
    shown = invoke(["schema", "diff", str(old), str(new)])
    assert shown.code == code, shown.stdout + shown.stderr
    assert "/payments.v1.RefundIssued/2" in shown.stdout
    assert "2.proto:5" in shown.stdout


def test_bad_proto_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.b").mkdir()
    (tmp_path / "a.b" / "1.proto").write_text('syntax = "proto3";\nmessage A {\n  strin x = 1;\n}\n')
    checked = invoke(["schema", "check", "--schemas", str(tmp_path)])
    assert checked.code == ExitCode.USAGE
    first = checked.stderr.splitlines()[0]
    assert "a.b/1.proto:3:" in first
    assert "invalid Protobuf" in first
    assert "Traceback" not in checked.stderr


def test_imports_resolve_inside_the_catalogue(tmp_path: Path) -> None:
    (tmp_path / "payments.money").mkdir()
    (tmp_path / "payments.money" / "1.proto").write_text(
        'syntax = "proto3";\npackage payments.money.v1;\n'
        "message Money {\n  int64 minor = 1;\n  string currency = 2;\n}\n")
    (tmp_path / "payments.refund").mkdir()
    body = ('syntax = "proto3";\npackage payments.v1;\nimport "payments.money/1.proto";\n'
            "message Refund {\n  string refund_id = 1;\n  payments.money.v1.Money amount = 2;\n}\n")
    (tmp_path / "payments.refund" / "1.proto").write_text(body)
    later = body.replace("Money amount = 2;", "Money amount = 2;\n  string note = 3;")
    (tmp_path / "payments.refund" / "2.proto").write_text(later)
    checked = invoke(["schema", "check", "--schemas", str(tmp_path)])
    assert checked.code == ExitCode.OK, checked.stdout + checked.stderr
    missing = body.replace("payments.money/1.proto", "payments.money/9.proto")
    (tmp_path / "payments.refund" / "3.proto").write_text(missing)
    broken = invoke(["schema", "check", "--schemas", str(tmp_path)])
    assert broken.code == ExitCode.USAGE
    assert "payments.money/9.proto" in broken.stderr
