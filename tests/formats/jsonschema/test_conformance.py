"""The JSON Schema cases of the shared conformance file, run through the JSON engine.

``expect`` describes the pair ``old`` -> ``new`` only: the case
``json-order-transitive-old-type-clash`` registers v1 with ``channel: integer`` and v3 with
``channel: string`` yet expects BACKWARD to hold, which is only true of v2 -> v3. The
``history`` is there for the transitive modes, whose verdicts are asserted separately below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema as js_lib
import pytest

from evtool.formats.jsonschema import compat as engine


def _cases_path() -> Path:
    override = os.environ.get("EVTOOL_CONFORMANCE")
    if override:
        return Path(override)
    # A copy of ../shared/conformance/compat-cases.jsonl, kept here so a clean clone tests alone.
    return Path(__file__).resolve().parents[3] / "fixtures/conformance/compat-cases.jsonl"


def _load() -> list[dict[str, Any]]:
    path = _cases_path()
    if not path.is_file():
        return []
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [c for c in cases if c["format"] == "json"]


CASES = _load()

# Transitive verdicts for the cases with a history (new against every earlier version).
TRANSITIVE: dict[str, tuple[bool, bool]] = {
    # v1 channel:int can't be read by v3 channel:string (and vice versa).
    "json-order-transitive-old-type-clash": (False, False),
    # maxLength only ever grows: every new version reads the older ones, never the reverse.
    "json-complaint-transitive-loosening": (True, False),
    "json-payment-transitive-three-versions-ok": (True, True),
}


def test_conformance_file_is_present() -> None:
    assert _cases_path().is_file(), f"conformance cases not found at {_cases_path()}"
    assert len(CASES) >= 72


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


def _parse(doc: Any, name: str) -> engine.JsonSchemaDoc:
    return engine.parse(doc, source=name)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_case(case: dict[str, Any]) -> None:
    old, new = _parse(case["old"], "old.json"), _parse(case["new"], "new.json")
    backward = engine.incompatibilities(new, old)
    forward = engine.incompatibilities(old, new)
    assert (not backward) is case["expect"]["backward"], [i.message for i in backward]
    assert (not forward) is case["expect"]["forward"], [i.message for i in forward]
    for reader_doc, writer_doc, found in ((case["new"], case["old"], backward),
                                          (case["old"], case["new"], forward)):
        for inc in found:
            assert inc.code
            assert inc.message
            assert inc.pointer is not None
            if inc.counterexample is not None:
                assert js_lib.Draft7Validator(writer_doc).is_valid(inc.counterexample.event)
                assert not js_lib.Draft7Validator(reader_doc).is_valid(inc.counterexample.event)
            else:
                assert inc.no_counterexample_reason


def test_forward_multipleof_removed_is_proven() -> None:
    case = next(c for c in CASES if c["id"] == "json-inventory-multipleof-removed")
    found = engine.incompatibilities(_parse(case["old"], "old"), _parse(case["new"], "new"))
    assert [i.code for i in found] == ["multiple-of-added"]
    event = found[0].counterexample.event  # type: ignore[union-attr]
    assert event["threshold"] % 4 != 0


HISTORY = [c for c in CASES if c.get("history")]


@pytest.mark.parametrize("case", HISTORY, ids=_ids(HISTORY))
def test_history_transitive(case: dict[str, Any]) -> None:
    new = _parse(case["new"], "new")
    earlier = [_parse(d, f"v{i}") for i, d in enumerate([*case["history"], case["old"]])]
    backward = all(not engine.incompatibilities(new, e) for e in earlier)
    forward = all(not engine.incompatibilities(e, new) for e in earlier)
    assert (backward, forward) == TRANSITIVE[case["id"]]
