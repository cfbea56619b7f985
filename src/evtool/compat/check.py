"""`schema check`: which pairs a subject's mode compares, and findings placed in files.

Without a base catalogue every version is checked against its predecessor (or, for a
_TRANSITIVE mode, every earlier version), as Schema Registry would have when each version
was registered. Against a git ref, like `buf breaking --against`, only versions added since
that ref are checked, and a published version that changed or vanished is a finding itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from evtool.catalog.model import Catalog, SchemaFile, Subject
from evtool.config import Settings
from evtool.errors import SchemaError
from evtool.formats.findings import (
    CheckedPair,
    CheckReport,
    Direction,
    Finding,
    Incompatibility,
    Location,
    Severity,
    Side,
)
from evtool.gc_pause import gc_paused
from evtool.modes import CompatibilityMode

VERSION_MODIFIED = "published-version-modified"
VERSION_DELETED = "published-version-deleted"
VERSION_DOCS_EDITED = "published-version-docs-edited"


@contextmanager
def too_deep_names(*schemas: SchemaFile) -> Iterator[None]:
    """Name the files when a format runs out of stack despite the catalogue's depth limit
    (a $ref web can be deep without deep text): bad input, exit 2, never "incompatible"."""
    try:
        yield
    except RecursionError:
        raise too_deep_error(*schemas) from None


def too_deep_error(*schemas: SchemaFile) -> SchemaError:
    names = " and ".join(dict.fromkeys(str(s.path) for s in schemas))
    return SchemaError(
        f"{names}: nested too deep to check",
        hint="flatten the schema: fewer levels of nested types or $ref chains",
    )


@dataclass(frozen=True, slots=True)
class PairCheck:
    """One reading direction between two versions of one subject."""

    subject: Subject
    old: SchemaFile
    new: SchemaFile
    direction: Direction

    @property
    def reader(self) -> SchemaFile:
        return self.new if self.direction is Direction.BACKWARD else self.old

    @property
    def writer(self) -> SchemaFile:
        return self.old if self.direction is Direction.BACKWARD else self.new


def plan_pairs(
    subject: Subject, mode: CompatibilityMode, *, new_versions: set[int] | None = None
) -> Iterator[PairCheck]:
    """The pair checks `mode` asks for; `new_versions` limits which versions are under test."""
    if mode is CompatibilityMode.NONE:
        return
    versions = subject.versions
    backward, forward = mode.checks_backward, mode.checks_forward  # enum properties: not per pair
    for index, new in enumerate(versions):
        if index == 0 or (new_versions is not None and new.version not in new_versions):
            continue
        earlier: Sequence[SchemaFile] = versions[:index] if mode.transitive else versions[index - 1 : index]
        for old in reversed(earlier):  # nearest first: the first finding is the most relevant
            if backward:
                yield PairCheck(subject, old, new, Direction.BACKWARD)
            if forward:
                yield PairCheck(subject, old, new, Direction.FORWARD)


def check_catalog(
    catalog: Catalog,
    settings: Settings,
    *,
    mode: CompatibilityMode | None = None,
    base: Catalog | None = None,
    strict: bool = False,
) -> CheckReport:
    """Check every subject under its mode (`mode` overrides the configured ones).

    Changes the registry accepts though they corrupt data (a format's `warnings`) are reported
    as warnings; `strict` makes them findings, so the check fails on them.
    """
    with gc_paused():
        return _check(catalog, settings, mode, base, strict)


def _check(
    catalog: Catalog,
    settings: Settings,
    mode: CompatibilityMode | None,
    base: Catalog | None,
    strict: bool,
) -> CheckReport:
    report = CheckReport()
    for subject in catalog.subjects.values():
        _check_declared_format(subject, settings)
        for schema in subject.versions:  # every file must at least be a valid schema
            with too_deep_names(schema):
                schema.parsed()
        subject_mode = mode or settings.mode_for(subject.name)
        report.modes[subject.name] = subject_mode.value
        report.subjects_checked += 1
        new_versions: set[int] | None = None
        if base is not None:
            published = base.subjects.get(subject.name)
            published_numbers = {s.version for s in published.versions} if published else set()
            new_versions = {s.version for s in subject.versions} - published_numbers
            if published is not None:
                report.findings.extend(_immutability_findings(published, subject))
        fmt = subject.latest.handler
        for pair in plan_pairs(subject, subject_mode, new_versions=new_versions):
            report.pairs.append(
                CheckedPair(subject.name, pair.old.version, pair.new.version, pair.direction)
            )
            reader, writer = pair.reader.parsed(), pair.writer.parsed()
            try:  # too_deep_names, inlined: a context manager per pair is measurable here
                issues = fmt.incompatibilities(reader, writer)
                lossy = fmt.warnings(reader, writer)
            except RecursionError:
                raise too_deep_error(pair.reader, pair.writer) from None
            report.findings.extend(_finding(pair, issue) for issue in issues)
            lossy_severity = Severity.ERROR if strict else Severity.WARNING  # accepted, yet lossy
            report.findings.extend(_finding(pair, w, lossy_severity) for w in lossy)
    if base is not None:
        for name, published in base.subjects.items():
            if name not in catalog.subjects:
                report.findings.extend(_immutability_findings(published, None))
    return report


def _check_declared_format(subject: Subject, settings: Settings) -> None:
    """evtool.toml's `format` for a subject is a promise about its files: hold them to it."""
    declared = settings.subjects.get(subject.name)
    if declared is None or declared.format is None or declared.format == subject.format.value:
        return
    raise SchemaError(
        f"{subject.latest.path}: subject {subject.name!r} is declared format = {declared.format!r} "
        f"in {settings.source or 'evtool.toml'} but its versions are {subject.latest.handler.label}",
        hint="fix the subject's format in evtool.toml or rename its files",
    )


def _finding(pair: PairCheck, issue: Incompatibility, severity: Severity = Severity.ERROR) -> Finding:
    schema = pair.reader if issue.side is Side.READER else pair.writer
    return Finding(
        subject=pair.subject.name,
        old_version=pair.old.version,
        new_version=pair.new.version,
        direction=pair.direction,
        code=issue.code,
        pointer=issue.pointer,
        location=Location(schema.path, schema.line_of(issue.pointer)),
        message=issue.message,
        counterexample=issue.counterexample,
        no_counterexample_reason=issue.no_counterexample_reason,
        severity=severity,
    )


def _immutability_findings(published: Subject, current: Subject | None) -> Iterator[Finding]:
    present = {s.version: s for s in current.versions} if current else {}
    for old in published.versions:
        new = present.get(old.version)
        if new is None:
            yield Finding(
                subject=published.name,
                old_version=old.version,
                new_version=old.version,
                direction=None,
                code=VERSION_DELETED,
                pointer="",
                location=Location(old.path, None),
                message=f"version {old.version} was published and has been deleted; consumers may still "
                "read data written with it. Restore the file.",
            )
        elif (pointer := _changed_at(old, new)) is not None:
            if new.format == old.format and new.handler.docs_only(old.document, new.document):
                yield Finding(
                    subject=published.name,
                    old_version=old.version,
                    new_version=new.version,
                    direction=None,
                    code=VERSION_DOCS_EDITED,
                    pointer=pointer,
                    location=Location(new.path, new.line_of(pointer)),
                    message=f"version {old.version} was published and only its documentation changed "
                    f"(first at '{pointer or '/'}'); data reads the same, but a registry keeps the "
                    "text it registered",
                    severity=Severity.WARNING,
                )
                continue
            yield Finding(
                subject=published.name,
                old_version=old.version,
                new_version=new.version,
                direction=None,
                code=VERSION_MODIFIED,
                pointer=pointer,
                location=Location(new.path, new.line_of(pointer)),
                message=f"version {old.version} was published and its schema changed at "
                f"'{pointer or '/'}'; published versions are immutable. Revert it and add "
                f"version {published.latest.version + 1} instead.",
            )


def _changed_at(old: SchemaFile, new: SchemaFile) -> str | None:
    if new.format != old.format:
        return ""
    return new.handler.changed_at(old, new)
