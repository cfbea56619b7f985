from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema

from evtool.compat import ci_output
from evtool.formats.findings import (
    CheckedPair,
    CheckReport,
    Counterexample,
    Direction,
    Finding,
    Location,
    Severity,
)


def _report() -> CheckReport:
    report = CheckReport(subjects_checked=2, modes={"a.b": "FULL", "c.d": "BACKWARD"})
    report.pairs += [
        CheckedPair("a.b", 1, 2, Direction.BACKWARD),
        CheckedPair("a.b", 1, 2, Direction.FORWARD),
        CheckedPair("c.d", 1, 2, Direction.BACKWARD),
    ]
    report.findings.append(
        Finding(
            subject="a.b",
            old_version=1,
            new_version=2,
            direction=Direction.FORWARD,
            code="property-removed-from-closed-model",
            pointer="/properties/x",
            location=Location(Path("schemas/a.b/1.json"), 7),
            message="property `x`, with data: 1, 2 is gone",
            counterexample=Counterexample(
                {"x": 1}, "Additional properties are not allowed ('x' was unexpected)"
            ),
        )
    )
    report.findings.append(
        Finding(
            subject="c.d",
            old_version=1,
            new_version=1,
            direction=None,
            code="published-version-modified",
            pointer="/type",
            location=Location(Path("schemas/c.d/1.json"), 2),
            message="changed",
        )
    )
    return report


# The parts of the SARIF 2.1.0 schema that code scanning services read.
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs", "$schema"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "rules": {
                                        "type": "array",
                                        "items": {"type": "object", "required": ["id", "shortDescription"]},
                                    }
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "message", "locations", "level"],
                            "properties": {
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {"type": "object", "required": ["text"]},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation"],
                                                "properties": {
                                                    "region": {
                                                        "type": "object",
                                                        "properties": {
                                                            "startLine": {"type": "integer", "minimum": 1}
                                                        },
                                                    }
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_has_the_2_1_0_structure_and_stable_rule_ids() -> None:
    document = json.loads(ci_output.to_sarif(_report(), tool_version="1.2.3"))
    jsonschema.validate(document, SARIF_SUBSET)
    run = document["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == ["property-removed-from-closed-model", "published-version-modified"]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    first = run["results"][0]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"]["uri"] == "schemas/a.b/1.json"
    assert first["region"]["startLine"] == 7


def test_junit_is_xml_with_one_case_per_pair_and_failures_counted() -> None:
    root = ET.fromstring(ci_output.to_junit(_report()))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 4  # three pair checks and one immutability check
    assert suite.get("failures") == "2"
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("classname") for c in failed} == {"a.b", "c.d"}
    failure = failed[0].find("failure")
    assert failure is not None
    assert failure.text is not None
    assert "counterexample" in failure.text


def test_github_commands_escape_properties_and_data() -> None:
    lines = ci_output.to_github_commands(_report()).splitlines()
    assert lines[0].startswith("::error file=schemas/a.b/1.json,line=7,title=a.b v1→v2 forward%3A ")
    data = lines[0].split("::", 2)[2]
    assert "\n" not in data
    assert "%0ACounterexample" in data
    assert "with data: 1, 2" in data  # commas are escaped only in properties


def test_json_is_the_full_result() -> None:
    document = json.loads(ci_output.to_json(_report()))
    assert document["ok"] is False
    assert document["pairs_checked"] == 3
    assert document["findings"][0]["counterexample"]["event"] == {"x": 1}
    assert document["findings"][1]["direction"] is None


def test_markdown_summary_has_a_row_per_finding() -> None:
    text = ci_output.to_markdown_summary(_report())
    assert "2 finding(s)" in text
    assert text.count("\n| a.b") + text.count("\n| c.d") == 2


def test_json_names_its_format_and_version() -> None:
    document = json.loads(ci_output.to_json(_report()))
    assert document["format"] == "evtool.schema-check"
    assert document["format_version"] == 1


def test_junit_without_pairs_to_check_still_has_a_passed_case_per_subject() -> None:
    """Jenkins rejects tests="0" by default: a check with no new version passes each subject."""
    nothing_new = CheckReport(subjects_checked=2, modes={"a.b": "FULL", "c.d": "BACKWARD"})
    root = ET.fromstring(ci_output.to_junit(nothing_new))
    suite = root.find("testsuite")
    assert suite is not None
    assert root.get("tests") == suite.get("tests") == "2"
    assert suite.get("failures") == "0"
    cases = suite.findall("testcase")
    assert [c.get("classname") for c in cases] == ["a.b", "c.d"]
    assert all(c.find("failure") is None for c in cases)


SARIF_SCHEMA_FILE = Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json"


def test_sarif_validates_against_the_full_sarif_2_1_0_schema(tmp_path: Path) -> None:
    schema = json.loads(SARIF_SCHEMA_FILE.read_text(encoding="utf-8"))
    report = _report()
    for root in (None, tmp_path):
        document = json.loads(ci_output.to_sarif(report, tool_version="1.2.3", root=root))
        jsonschema.Draft4Validator(schema).validate(document)
    # the validator is able to fail: a level SARIF does not define is rejected
    document["runs"][0]["results"][0]["level"] = "fatal"
    assert not jsonschema.Draft4Validator(schema).is_valid(document)


def test_sarif_rules_carry_help_for_each_code_and_no_placeholder_uri() -> None:
    document = json.loads(ci_output.to_sarif(_report(), tool_version="1.2.3"))
    driver = document["runs"][0]["tool"]["driver"]
    assert "informationUri" not in driver  # the project has no URL to point at
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    modified = by_id["published-version-modified"]
    assert "revert" in modified["help"]["text"]
    assert modified["fullDescription"]["text"].startswith("A published version was edited")
    # every rule has its own text, not one generic sentence
    assert len({rule["help"]["text"] for rule in driver["rules"]}) == len(driver["rules"])


def test_partial_fingerprints_are_stable_and_ignore_the_line() -> None:
    first = json.loads(ci_output.to_sarif(_report(), tool_version="1"))["runs"][0]["results"]
    moved = _report()
    moved.findings[0] = replace(moved.findings[0], location=Location(Path("schemas/a.b/1.json"), 40))
    second = json.loads(ci_output.to_sarif(moved, tool_version="2"))["runs"][0]["results"]
    prints = [r["partialFingerprints"][ci_output.FINGERPRINT_KEY] for r in first]
    assert prints == [r["partialFingerprints"][ci_output.FINGERPRINT_KEY] for r in second]
    assert len(set(prints)) == 2  # two findings, two fingerprints
    other_code = replace(moved.findings[0], code="type-changed")
    assert ci_output.fingerprint(other_code) != prints[0]


def test_sarif_and_annotation_paths_are_relative_to_the_repository_root(tmp_path: Path) -> None:
    # a monorepo: the job runs in services/orders, the catalogue is services/orders/schemas
    repo = tmp_path / "repo"
    service = repo / "services" / "orders"
    (service / "schemas" / "a.b").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert ci_output.repository_root(service / "schemas", service) == repo.resolve()
    report = _report()
    report.findings[0] = replace(
        report.findings[0], location=Location(service / "schemas" / "a.b" / "1.json", 7)
    )
    document = json.loads(ci_output.to_sarif(report, tool_version="1", root=repo.resolve()))
    run = document["runs"][0]
    artifact = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "services/orders/schemas/a.b/1.json", "uriBaseId": "SRCROOT"}
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == repo.resolve().as_uri() + "/"
    github = ci_output.to_github_commands(report, root=repo.resolve())
    assert "file=services/orders/schemas/a.b/1.json," in github
    # outside git: the directory of evtool.toml
    lone = tmp_path / "lone"
    lone.mkdir()
    assert ci_output.repository_root(lone / "schemas", lone) == lone.resolve()


def test_a_warning_is_reported_everywhere_and_fails_nothing() -> None:
    report = CheckReport(subjects_checked=1, modes={"c.d": "BACKWARD"})
    report.findings.append(
        Finding("c.d", 1, 1, None, "published-version-docs-edited", "/description",
                Location(Path("schemas/c.d/1.json"), 1), "only docs", severity=Severity.WARNING)
    )
    assert report.ok
    assert json.loads(ci_output.to_json(report))["findings"][0]["severity"] == "warning"
    sarif = json.loads(ci_output.to_sarif(report, tool_version="1"))
    assert sarif["runs"][0]["results"][0]["level"] == "warning"
    assert ci_output.to_github_commands(report).startswith("::warning ")
    root = ET.fromstring(ci_output.to_junit(report))
    assert root.get("failures") == "0"
    assert "only docs" in "".join(root.itertext())
