"""Runs the rule catalogue over a catalogue: the latest version of every subject (or every version),
each judged beside the version before it, under the configured rule set and per-subject choices."""

from __future__ import annotations

from pathlib import Path

from evtool.catalog.model import Catalog
from evtool.config import Settings
from evtool.errors import UsageError
from evtool.formats.findings import Location
from evtool.lint.fields import view_of
from evtool.lint.model import Group, LintFinding, LintReport, LintTarget, SchemaView
from evtool.lint.rule import Rule, all_rules


def selected_rules(settings: Settings, group: Group | None = None) -> list[Rule]:
    chosen = group or Group(settings.lint.use)
    known = {rule.code for rule in all_rules()}
    for code in settings.lint.except_:
        if code not in known:
            raise UsageError(
                f"[lint] except names {code}, which is no rule",
                hint="evtool schema lint --list-rules shows the codes",
            )
    return [
        rule()
        for rule in all_rules()
        if rule.group in chosen.includes and rule.code not in settings.lint.except_
    ]


def lint_catalog(
    catalog: Catalog,
    settings: Settings,
    *,
    group: Group | None = None,
    all_versions: bool = False,
    root: Path | None = None,
) -> LintReport:
    rules = selected_rules(settings, group)
    report = LintReport(rules_applied=tuple(rule.code for rule in rules))
    for subject in catalog.subjects.values():
        configured = settings.subjects.get(subject.name)
        skipped = set(configured.lint_except) if configured else set()
        ignored = configured.lint_ignore if configured else {}
        report.subjects_linted += 1
        versions = subject.versions if all_versions else subject.versions[-1:]
        for schema in versions:
            view = view_of(schema)
            if view is None:
                continue  # a format with no walker yet is not linted (its rules cannot read it)
            index = subject.versions.index(schema)
            previous = subject.versions[index - 1] if index > 0 else None
            previous_view: SchemaView | None = view_of(previous) if previous is not None else None
            target = LintTarget(subject, schema, view, previous, previous_view, configured)
            for rule in rules:
                if rule.code in skipped:
                    continue
                for violation in rule.check(target):
                    report.findings.append(
                        LintFinding(
                            rule.code,
                            rule.name,
                            subject.name,
                            schema.version,
                            Location(schema.path, schema.line_of(violation.pointer)),
                            violation,
                            ignored.get(rule.code),
                        )
                    )
    for rule in rules:
        for subject_name, violation in rule.check_catalogue(root or catalog.root, catalog, settings):
            folder = Location((root or catalog.root) / subject_name, None)
            report.findings.append(LintFinding(rule.code, rule.name, subject_name, 0, folder, violation))
    return report
