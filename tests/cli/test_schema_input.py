"""Bad schema input to `schema check` / `schema diff`: one error line naming the file, exit 2.

Each case here used to end otherwise: a green gate on an empty folder, a UTF-8 traceback
about an archive, RecursionError reported as "incompatible" (exit 1), a duplicate key that
silently hid a change, a FIFO that hung the check.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import Outcome, invoke, run_evtool

from evtool.catalog.bundled import bundled_schema_dir
from evtool.formats.jsontext import MAX_DEPTH

ORDER = "commerce.order.placed"
INVENTORY = "inventory.stock.low"


def _one_error_line(outcome: Outcome, *needles: str) -> str:
    """The outcome is exit 2 with exactly one `error:` line holding every needle, no traceback."""
    assert outcome.code == 2, outcome
    assert "Traceback" not in outcome.all_output
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, outcome.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled catalogue in `schemas/`, the working directory its parent."""
    shutil.copytree(bundled_schema_dir(), tmp_path / "schemas")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "schemas"


def _deep_json_schema(levels: int, leaf: str = "string") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": leaf}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def _deep_avro_text(levels: int) -> str:
    """As text: deeper than json.dumps itself could write (three levels of JSON per record)."""
    opening = "".join(
        f'{{"type": "record", "name": "R{level}",\n "fields": [{{"name": "a", "type":\n'
        for level in range(levels)
    )
    return opening + '"string"' + "}]}" * levels


# --- an empty or unrelated schema directory ----------------------------------------------


def test_empty_schema_directory_is_an_error_not_a_green_gate(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    outcome = invoke(["schema", "check", "--schemas", str(tmp_path / "schemas")])
    _one_error_line(outcome, "no subjects found under", "schemas")
    assert "<subject>/<version>.avsc" in outcome.stderr  # the hint says what layout is expected
    assert "compatible" not in outcome.stdout


def test_empty_directory_fails_in_machine_formats_too(tmp_path: Path) -> None:
    for fmt in ("json", "sarif", "github", "junit"):
        outcome = invoke(["schema", "check", "--schemas", str(tmp_path), "--format", fmt])
        _one_error_line(outcome, "no subjects found")
        assert outcome.stdout == ""


def test_directory_of_unrelated_files_is_no_catalogue(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    (downloads / "release-1.2").mkdir(parents=True)
    (downloads / "release-1.2" / "bundle.tgz").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe" * 100)
    (downloads / "release-1.2" / "README.md").write_text("# notes\n")
    (downloads / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" * 50)
    (downloads / "docs").mkdir()
    (downloads / "docs" / "notes.txt").write_text("hello")
    outcome = invoke(["schema", "check", "--schemas", str(downloads)])
    line = _one_error_line(outcome, "no subjects found under")
    assert "utf-8" not in line.lower()
    assert "other files are ignored" in outcome.stderr


def test_unrelated_files_beside_versions_are_ignored(catalogue: Path) -> None:
    (catalogue / ORDER / "bundle.tgz").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")
    (catalogue / ORDER / "README.md").write_text("owner: checkout\n")
    (catalogue / "archive.tgz").write_bytes(b"\xff" * 10)
    (catalogue / "docs").mkdir()
    (catalogue / "docs" / "diagram.png").write_bytes(b"\x89PNG\xff")
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    assert outcome.code == 0, outcome
    assert "4 subjects" in outcome.stdout


@pytest.mark.parametrize("name", ["4.yaml", "4.avro", "4"])
def test_a_misnamed_version_is_not_silently_ignored(catalogue: Path, name: str) -> None:
    shutil.copy(catalogue / ORDER / "3.avsc", catalogue / ORDER / name)
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    _one_error_line(outcome, f"{ORDER}/{name}", "looks like a version file")


# --- nesting too deep --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "text"),
    [("json", json.dumps(_deep_json_schema(300), indent=1)), ("avsc", _deep_avro_text(400))],
    ids=["json-300-levels", "avro-400-levels"],
)
def test_deeply_nested_schema_is_bad_input_not_incompatible(tmp_path: Path, ext: str, text: str) -> None:
    subject = tmp_path / "schemas" / "deep.event"
    subject.mkdir(parents=True)
    (subject / f"1.{ext}").write_text(text)
    (subject / f"2.{ext}").write_text(text)
    outcome = invoke(["schema", "check", "--schemas", str(tmp_path / "schemas")])
    line = _one_error_line(outcome, f"deep.event/1.{ext}:", "nested too deep", str(MAX_DEPTH))
    # the line named is where the limit is crossed, not the top of the file
    number = int(line.split(f"1.{ext}:")[1].split(":")[0])
    assert number > MAX_DEPTH / 3
    diff = invoke(["schema", "diff", str(subject / f"1.{ext}"), str(subject / f"2.{ext}")])
    _one_error_line(diff, f"1.{ext}", "nested too deep")


def test_text_deeper_than_the_json_decoder_can_go_is_named(tmp_path: Path) -> None:
    subject = tmp_path / "s"
    subject.mkdir()
    (subject / "1.json").write_text("[" * 100_000 + "]" * 100_000)
    outcome = invoke(["schema", "check", "--schemas", str(tmp_path)])
    _one_error_line(outcome, "s/1.json:1:", "nested too deep")


def _items_chain(depth: int, leaf: str) -> dict[str, Any]:
    """JSON Schema `items` chains: the engines' deepest recursion per level of text."""
    schema: dict[str, Any] = {"type": leaf}
    while True:
        wrapped = {"type": "array", "items": schema}
        if _depth(wrapped) > depth:
            return schema
        schema = wrapped


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def test_schemas_at_the_depth_limit_are_still_checked(tmp_path: Path) -> None:
    old, new = _items_chain(MAX_DEPTH, "integer"), _items_chain(MAX_DEPTH, "string")
    assert _depth(old) == MAX_DEPTH
    subject = tmp_path / "schemas" / "deep.items"
    subject.mkdir(parents=True)
    (subject / "1.json").write_text(json.dumps(old))
    (subject / "2.json").write_text(json.dumps(new))
    outcome = invoke(
        ["schema", "check", "--schemas", str(tmp_path / "schemas"), "--compatibility", "FULL",
         "--format", "json"]
    )
    assert outcome.code == 1, outcome  # a verdict (integer -> string breaks), not an error
    findings = json.loads(outcome.stdout)["findings"]
    assert {f["direction"] for f in findings} == {"backward", "forward"}
    diff = invoke(["schema", "diff", str(subject / "1.json"), str(subject / "2.json")])
    assert diff.code == 1, diff  # a verdict: integer -> string breaks backward (exit 1, like buf breaking)
    assert "breaks backward" in diff.stdout


# --- bytes that are not UTF-8, folders that cannot be read ---------------------------------


def test_non_utf8_version_names_file_line_and_offset(catalogue: Path) -> None:
    text = (catalogue / INVENTORY / "2.json").read_bytes()
    lines = text.split(b"\n")
    lines[3] = lines[3].replace(b'"', b'"\xe9', 1)  # a Latin-1 'é' on line 4
    (catalogue / INVENTORY / "3.json").write_bytes(b"\n".join(lines))
    offset = len(b"\n".join(lines[:3])) + 1 + lines[3].index(b"\xe9")
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    _one_error_line(outcome, f"{INVENTORY}/3.json:4:", "not UTF-8", "0xe9", f"offset {offset}")
    old, new = catalogue / INVENTORY / "1.json", catalogue / INVENTORY / "3.json"
    diff = invoke(["schema", "diff", str(old), str(new)])
    _one_error_line(diff, "3.json:4:", "not UTF-8")


@pytest.mark.e2e
def test_unreadable_subject_directory_is_named(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(bundled_schema_dir(), schemas)
    (schemas / INVENTORY).chmod(0)
    try:
        done = run_evtool(
            "schema", "check", "--schemas", "schemas", cwd=tmp_path, honour_file_modes=True
        )
    finally:
        (schemas / INVENTORY).chmod(0o755)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert f"error: schemas/{INVENTORY}: cannot list the directory: Permission denied" in done.stderr
    assert done.stdout == ""


@pytest.mark.e2e
def test_unreadable_file_given_to_schema_diff_is_named(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text("{}")
    (tmp_path / "new.json").write_text("{}")
    (tmp_path / "new.json").chmod(0)
    done = run_evtool("schema", "diff", "old.json", "new.json", cwd=tmp_path, honour_file_modes=True)
    assert done.returncode == 2, done
    assert "'new.json' is not readable" in done.stderr  # Typer's own check of the argument
    assert "Traceback" not in done.stderr


# --- duplicate keys ------------------------------------------------------------------------


def test_duplicate_key_in_a_json_schema_is_refused_with_its_line(catalogue: Path) -> None:
    # the second "maximum" would win silently and make the stricter bound vanish from review
    (catalogue / INVENTORY / "3.json").write_text(
        "{\n"
        '  "type": "object",\n'
        '  "properties": {\n'
        '    "on_hand": {"type": "integer",\n'
        '                "maximum": 10,\n'
        '                "maximum": 1000000}\n'
        "  }\n"
        "}\n"
    )
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    _one_error_line(outcome, f"{INVENTORY}/3.json:6:", "duplicate key 'maximum'", "line 5")


def test_duplicate_key_in_an_avro_schema_is_refused_with_its_line(catalogue: Path) -> None:
    document = json.loads((catalogue / ORDER / "3.avsc").read_text())
    text = json.dumps(document, indent=2)
    # "name" twice in the record: json keeps the last, and the first name is gone
    text = text.replace('"type": "record",', '"type": "record",\n  "name": "Shadowed",', 1)
    (catalogue / ORDER / "4.avsc").write_text(text)
    shadow_line = text.splitlines().index('  "name": "Shadowed",') + 1
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    line = _one_error_line(outcome, f"{ORDER}/4.avsc:", "duplicate key 'name'")
    reported = int(line.split("4.avsc:")[1].split(":")[0])
    assert reported > shadow_line  # the later "name" of the same record
    assert f"line {shadow_line}" in line
    diff = invoke(["schema", "diff", str(catalogue / ORDER / "3.avsc"), str(catalogue / ORDER / "4.avsc")])
    _one_error_line(diff, "4.avsc:", "duplicate key 'name'")


def test_same_key_in_sibling_objects_is_fine(tmp_path: Path) -> None:
    subject = tmp_path / "s"
    subject.mkdir()
    (subject / "1.json").write_text(
        '{"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},'
        ' "description": "\\"type\\": and {\\"a\\": 1, \\"a\\": 2} inside a string"}'
    )
    assert invoke(["schema", "check", "--schemas", str(tmp_path)]).code == 0


# --- FIFOs, devices, huge files ------------------------------------------------------------


@pytest.mark.e2e
def test_fifo_given_to_schema_diff_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "old.json"
    os.mkfifo(fifo)
    new = tmp_path / "new.json"
    new.write_text('{"type": "object"}')
    done = run_evtool("schema", "diff", str(fifo), str(new), timeout_s=30)
    assert done.returncode == 2, done
    assert "old.json: not a regular file (a FIFO)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_fifo_inside_the_schema_directory_is_refused_without_hanging(tmp_path: Path) -> None:
    shutil.copytree(bundled_schema_dir(), tmp_path / "schemas")
    os.mkfifo(tmp_path / "schemas" / ORDER / "4.avsc")
    os.mkfifo(tmp_path / "schemas" / ORDER / "notes")  # not named like a schema: never opened
    done = run_evtool("schema", "check", "--schemas", "schemas", cwd=tmp_path, timeout_s=30)
    assert done.returncode == 2, done
    assert f"error: schemas/{ORDER}/4.avsc: not a regular file (a FIFO)" in done.stderr
    assert "Traceback" not in done.stderr


# An endless device read whole would take all memory: these run capped, in a subprocess.
_MEMORY_CAP = 1024 * 1024 * 1024


@pytest.mark.e2e
def test_dev_zero_behind_a_schema_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "new.json").symlink_to("/dev/zero")
    (tmp_path / "old.json").write_text("{}")
    done = run_evtool(
        "schema", "diff", "old.json", "new.json", cwd=tmp_path, timeout_s=30, memory_limit=_MEMORY_CAP
    )
    assert done.returncode == 2, done
    assert "error: new.json: not a regular file (a character device)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_dev_zero_as_a_version_is_refused(tmp_path: Path) -> None:
    shutil.copytree(bundled_schema_dir(), tmp_path / "schemas")
    (tmp_path / "schemas" / ORDER / "4.avsc").symlink_to("/dev/zero")
    done = run_evtool(
        "schema", "check", "--schemas", "schemas", cwd=tmp_path, timeout_s=30, memory_limit=_MEMORY_CAP
    )
    assert done.returncode == 2, done
    assert f"error: schemas/{ORDER}/4.avsc: not a regular file (a character device)" in done.stderr


def test_oversized_schema_file_is_refused_before_reading_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("evtool.catalog.loader.MAX_SCHEMA_BYTES", 1024 * 1024)
    big = tmp_path / "big.json"
    with big.open("w") as fh:
        fh.write('{"description": "' + "x" * (2 * 1024 * 1024) + '"}')
    (tmp_path / "small.json").write_text("{}")
    outcome = invoke(["schema", "diff", str(tmp_path / "small.json"), str(big)])
    _one_error_line(outcome, "big.json: larger than 1 MiB")


def test_a_directory_named_like_a_version_is_refused(catalogue: Path) -> None:
    (catalogue / ORDER / "4.avsc").mkdir()
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    _one_error_line(outcome, f"{ORDER}/4.avsc: not a regular file (a directory)")


def test_dangling_link_named_like_a_version_is_named(catalogue: Path) -> None:
    (catalogue / ORDER / "4.avsc").symlink_to(catalogue / "gone.avsc")
    outcome = invoke(["schema", "check", "--schemas", str(catalogue)])
    _one_error_line(outcome, f"{ORDER}/4.avsc: cannot read: No such file or directory")
