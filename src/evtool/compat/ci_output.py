"""Machine formats of a check report for CI systems: JSON, JUnit XML, SARIF 2.1.0, GitHub.

Pure functions from `CheckReport` to text, so the CLI only chooses one and writes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from evtool.compat.codes import Effect, FindingCode, finding_code
from evtool.formats.findings import CheckReport, Finding, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Bumped only if the fingerprint recipe changes: code scanning would see every alert as new.
FINGERPRINT_KEY = "evtoolFinding/v1"


def repository_root(catalogue: Path, config_dir: Path | None) -> Path:
    """Where SARIF and annotation paths start: the git top-level holding the catalogue (what
    code scanning resolves against, also in a monorepo job started in a subdirectory), else
    the directory of evtool.toml, else the current directory."""
    start = catalogue if catalogue.is_dir() else catalogue.parent
    try:
        top = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        top = None
    if top is not None and top.returncode == 0 and top.stdout.strip():
        return Path(top.stdout.strip()).resolve()
    return (config_dir or Path.cwd()).resolve()


def relative_uri(path: Path, root: Path | None) -> str:
    """``path`` as a POSIX path relative to ``root`` (left as it is when outside it)."""
    if root is None:
        return path.as_posix()
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def fingerprint(finding: Finding) -> str:
    """Stable across runs and unrelated edits: subject, versions, direction, code and schema
    path, never the line (a line moves when anything above it changes)."""
    direction = finding.direction.value if finding.direction else "immutability"
    key = "\x1f".join([finding.subject, str(finding.old_version), str(finding.new_version),
                       direction, finding.code, finding.pointer])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def finding_title(finding: Finding) -> str:
    if finding.direction is None:
        return f"{finding.subject} v{finding.old_version}: {finding.code}"
    return (
        f"{finding.subject} v{finding.old_version}→v{finding.new_version} "
        f"{finding.direction.value}: {finding.code}"
    )


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    counterexample = None
    if finding.counterexample is not None:
        counterexample = {
            "event": finding.counterexample.event,
            "proof": finding.counterexample.proof,
        }
    return {
        "subject": finding.subject,
        "old_version": finding.old_version,
        "new_version": finding.new_version,
        "direction": finding.direction.value if finding.direction else None,
        "code": finding.code,
        "severity": finding.severity.value,
        "pointer": finding.pointer,
        "file": str(finding.location.file),
        "line": finding.location.line,
        "message": finding.message,
        "counterexample": counterexample,
        "no_counterexample_reason": finding.no_counterexample_reason,
    }


def code_to_dict(entry: FindingCode) -> dict[str, Any]:
    """A finding code's catalogue entry (evtool.compat.codes), as the JSON report and --list-codes show it."""
    return {
        "code": entry.code,
        "effect": entry.effect.value,
        "formats": sorted(f.value for f in entry.formats),
        "summary": entry.summary,
        "why": entry.why,
        "fix": entry.fix,
    }


# Bumped when a key changes meaning or goes away (new keys do not bump it), so CI scripts
# reading the document can refuse one they do not understand.
JSON_FORMAT = "evtool.schema-check"
JSON_FORMAT_VERSION = 1


def to_json(report: CheckReport) -> str:
    document = {
        "format": JSON_FORMAT,
        "format_version": JSON_FORMAT_VERSION,
        "ok": report.ok,
        "subjects_checked": report.subjects_checked,
        "pairs_checked": report.pairs_checked,
        "modes": report.modes,
        "findings": [finding_to_dict(f) for f in report.findings],
        "codes": {c: code_to_dict(finding_code(c)) for c in sorted({f.code for f in report.findings})},
    }
    if report.registry_verdicts:
        document["registry"] = [
            {
                "subject": v.subject,
                "registry_subject": v.registry_subject,
                "version": v.version,
                "level": v.level,
                "registry_compatible": v.registry_compatible,
                "evtool_compatible": v.evtool_compatible,
                "agrees": v.agrees,
                "messages": list(v.messages),
            }
            for v in report.registry_verdicts
        ]
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def to_junit(report: CheckReport) -> str:
    """One test case per checked pair and direction, plus one per immutability finding."""
    suite = ET.Element(
        "testsuite",
        name="evtool schema check",
        tests=str(report.pairs_checked),
        failures="0",
        errors="0",
    )
    by_pair: dict[tuple[str, int, int, str | None], list[Finding]] = {}
    for finding in report.findings:
        key = (
            finding.subject,
            finding.old_version,
            finding.new_version,
            finding.direction.value if finding.direction else None,
        )
        by_pair.setdefault(key, []).append(finding)
    failures = 0
    cases: list[tuple[str, int, int, str | None]] = [
        (p.subject, p.old_version, p.new_version, p.direction.value) for p in report.pairs
    ]
    cases += [key for key in by_pair if key[3] is None]
    for subject, old, new, direction in cases:
        name = f"v{old} → v{new} {direction}" if direction else f"v{old} immutable"
        case = ET.SubElement(suite, "testcase", classname=subject, name=name)
        everything = by_pair.get((subject, old, new, direction), [])
        found = [f for f in everything if f.severity is Severity.ERROR]
        warned = [f for f in everything if f.severity is Severity.WARNING]
        if warned:  # shown, never a failure
            ET.SubElement(case, "system-out").text = "\n".join(
                f"warning: {_plain_detail(f)}" for f in warned
            )
        if found:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                message="; ".join(f.message for f in found),
                type=",".join(sorted({f.code for f in found})),
            )
            failure.text = "\n".join(_plain_detail(f) for f in found)
    if not cases:
        # Jenkins (and others) reject a report of tests="0" by default; a check that had no new
        # version to compare is still a passed test of each subject
        for subject in report.modes or ["catalogue"]:
            ET.SubElement(suite, "testcase", classname=subject, name="no new version to check")
        cases_count = len(report.modes) or 1
    else:
        cases_count = len(cases)
    suite.set("tests", str(cases_count))
    suite.set("failures", str(failures))
    root = ET.Element("testsuites", name="evtool", tests=str(cases_count), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _plain_detail(finding: Finding) -> str:
    where = f"{finding.location.file}:{finding.location.line or 1} {finding.pointer or '/'}"
    lines = [f"[{finding.code}] {where}: {finding.message}"]
    if finding.counterexample is not None:
        event = json.dumps(finding.counterexample.event, ensure_ascii=False, default=str)
        lines.append(f"  counterexample: {event}")
        lines.append(f"  proof: {finding.counterexample.proof}")
    elif finding.no_counterexample_reason:
        lines.append(f"  no counterexample: {finding.no_counterexample_reason}")
    return "\n".join(lines)


def _rule(code: str) -> dict[str, Any]:
    help_ = finding_code(code)
    return {
        "id": code,
        "name": "".join(part.capitalize() for part in code.split("-")),
        "shortDescription": {"text": help_.summary},
        "fullDescription": {"text": f"{help_.summary}. {help_.why}"},
        "help": {
            "text": f"{help_.why} Fix: {help_.fix}.",
            "markdown": f"**{help_.summary}.** {help_.why}\n\n**Fix:** {help_.fix}.",
        },
        "defaultConfiguration": {
            "level": "warning" if help_.effect in (Effect.LOSSY, Effect.COMPATIBLE) else "error"
        },
        "properties": {"effect": help_.effect.value, "formats": sorted(f.value for f in help_.formats)},
    }


def to_sarif(report: CheckReport, *, tool_version: str, root: Path | None = None) -> str:
    """SARIF 2.1.0 for code scanning; artifact URIs are relative to ``root`` (the repository)."""
    codes = sorted({f.code for f in report.findings})
    rule_index = {code: index for index, code in enumerate(codes)}
    results = []
    for finding in report.findings:
        region = {"startLine": finding.location.line or 1}
        message = f"{finding_title(finding)}: {finding.message}"
        if finding.counterexample is not None:
            event = json.dumps(finding.counterexample.event, ensure_ascii=False, default=str)
            message += f" Counterexample: {event} ({finding.counterexample.proof})"
        artifact: dict[str, Any] = {"uri": relative_uri(finding.location.file, root)}
        if root is not None:
            artifact["uriBaseId"] = "SRCROOT"
        results.append(
            {
                "ruleId": finding.code,
                "ruleIndex": rule_index[finding.code],
                "level": finding.severity.value,
                "message": {"text": message},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": artifact, "region": region},
                        "logicalLocations": [
                            {"name": finding.pointer or "/", "kind": "member",
                             "fullyQualifiedName": f"{finding.subject}#{finding.pointer}"}
                        ],
                    }
                ],
                "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
                "properties": {
                    "subject": finding.subject,
                    "oldVersion": finding.old_version,
                    "newVersion": finding.new_version,
                    "direction": finding.direction.value if finding.direction else None,
                },
            }
        )
    driver: dict[str, Any] = {
        "name": "evtool",
        "version": tool_version,
        "rules": [_rule(code) for code in codes],
    }
    run: dict[str, Any] = {"tool": {"driver": driver}, "results": results}
    if root is not None:
        run["originalUriBaseIds"] = {"SRCROOT": {"uri": root.as_uri() + "/"}}
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github_commands(report: CheckReport, *, root: Path | None = None) -> str:
    """`::error` / `::warning` workflow commands: GitHub turns each into an annotation on the
    file and line; ``file`` must be relative to the repository root (``root``)."""
    lines = []
    for finding in report.findings:
        properties = (
            f"file={_escape_property(relative_uri(finding.location.file, root))},"
            f"line={finding.location.line or 1},"
            f"title={_escape_property(finding_title(finding))}"
        )
        message = finding.message
        if finding.counterexample is not None:
            event = json.dumps(finding.counterexample.event, ensure_ascii=False, default=str)
            message += f"\nCounterexample: {event}\nProof: {finding.counterexample.proof}"
        command = "warning" if finding.severity is Severity.WARNING else "error"
        lines.append(f"::{command} {properties}::{_escape_data(message)}")
    if report.ok:
        lines.append(
            f"::notice title=evtool schema check::{report.subjects_checked} subjects, "
            f"{report.pairs_checked} pair checks, all compatible"
        )
    return "\n".join(lines) + "\n"


def to_markdown_summary(report: CheckReport) -> str:
    """For $GITHUB_STEP_SUMMARY: a verdict line and one table row per finding."""
    verdict = "✅ all compatible" if report.ok else f"❌ {len(report.errors)} finding(s)"
    if report.warnings:
        verdict += f", {len(report.warnings)} warning(s)"
    lines = [
        "## evtool schema check",
        "",
        f"**{verdict}** — {report.subjects_checked} subjects, {report.pairs_checked} pair checks.",
        "",
    ]
    if report.findings:
        lines += ["| Subject | Versions | Direction | Code | Where | Why |", "|---|---|---|---|---|---|"]
        for f in report.findings:
            where = f"`{f.location.file}:{f.location.line or 1}` `{f.pointer or '/'}`"
            direction = f.direction.value if f.direction else "immutability"
            if f.severity is Severity.WARNING:
                direction += " (warning)"
            message = f.message.replace("|", "\\|")
            lines.append(
                f"| {f.subject} | v{f.old_version}→v{f.new_version} | {direction} | `{f.code}` "
                f"| {where} | {message} |"
            )
    return "\n".join(lines) + "\n"
