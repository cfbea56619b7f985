"""Lint findings in the CI formats `schema check` uses (JSON, JUnit, SARIF with rule help, GitHub)."""

from __future__ import annotations

import json
from typing import Any

from evtool.compat import ci_output
from evtool.formats.findings import CheckReport, Finding
from evtool.lint.model import LintFinding, LintReport
from evtool.lint.rule import all_rules

JSON_FORMAT = "evtool.schema-lint"
JSON_FORMAT_VERSION = 1


def as_check_report(report: LintReport) -> CheckReport:
    """The standing findings in the shape the CI renderers take (ignored ones are not failures)."""
    check = CheckReport(subjects_checked=report.subjects_linted)
    check.findings.extend(_finding(f) for f in report.standing)
    return check


def _finding(finding: LintFinding) -> Finding:
    return Finding(
        subject=finding.subject,
        old_version=finding.version,
        new_version=finding.version,
        direction=None,
        code=finding.code,
        pointer=finding.violation.pointer,
        location=finding.location,
        message=f"{finding.rule}: {finding.violation.message}",
    )


def to_json(report: LintReport) -> str:
    document = {
        "format": JSON_FORMAT,
        "format_version": JSON_FORMAT_VERSION,
        "ok": not report.standing,
        "subjects_linted": report.subjects_linted,
        "rules": list(report.rules_applied),
        "findings": [
            {
                **ci_output.finding_to_dict(_finding(f)),
                "rule": f.rule,
                "version": f.version,
                "ignored_because": f.ignored_because,
            }
            for f in report.findings
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def to_sarif(report: LintReport, *, tool_version: str) -> str:
    """SARIF whose rules carry each rule's docstring as its help (what code scanning shows)."""
    document: dict[str, Any] = json.loads(
        ci_output.to_sarif(as_check_report(report), tool_version=tool_version)
    )
    docs = {rule.code: rule for rule in all_rules()}
    for entry in document["runs"][0]["tool"]["driver"]["rules"]:
        rule = docs.get(entry["id"])
        if rule is not None:
            entry["name"] = rule.name
            entry["shortDescription"] = {"text": rule.summary()}
            entry["fullDescription"] = {"text": rule.documentation()}
            entry["help"] = {"text": rule.documentation(), "markdown": rule.documentation()}
            entry["properties"] = {"group": rule.group.value}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
