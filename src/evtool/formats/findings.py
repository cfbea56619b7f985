"""What a compatibility check reports: plain data shared by the engines and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from evtool.errors import ExitCode


class Direction(StrEnum):
    """Which side reads: BACKWARD means the new schema reads data written with the old one."""

    BACKWARD = "backward"
    FORWARD = "forward"


class Severity(StrEnum):
    """ERROR findings fail the check; a WARNING is shown everywhere and fails nothing."""

    ERROR = "error"
    WARNING = "warning"


class Side(StrEnum):
    """Which of the two schemas of a pair a JSON pointer points into."""

    READER = "reader"
    WRITER = "writer"


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A concrete event the writer schema accepts and the reader schema rejects or cannot decode.

    ``proof`` is what the real validator/decoder said when it was tried (jsonschema's
    message, or fastavro's error when decoding writer bytes with the reader schema).
    """

    event: Any
    proof: str


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a reader schema cannot read what a writer schema writes.

    Engines produce these knowing nothing of subjects, versions or files; ``pointer`` is an
    RFC 6901 JSON pointer into the schema document named by ``side``.
    """

    code: str
    pointer: str
    side: Side
    message: str
    counterexample: Counterexample | None = None
    no_counterexample_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    file: Path
    line: int | None


@dataclass(frozen=True, slots=True)
class Finding:
    """An incompatibility (or an immutability breach) placed in the catalogue."""

    subject: str
    old_version: int
    new_version: int
    direction: Direction | None  # None for findings that are not about reading (immutability)
    code: str
    pointer: str
    location: Location
    message: str
    counterexample: Counterexample | None = None
    no_counterexample_reason: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_incompatibility(self) -> bool:
        """About reading data (not about a published file being edited)."""
        return self.direction is not None


@dataclass(frozen=True, slots=True)
class CheckedPair:
    subject: str
    old_version: int
    new_version: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class RegistryVerdict:
    """A Schema Registry's own answer on a new version, beside evtool's (`--registry`)."""

    subject: str
    registry_subject: str
    version: int
    level: str
    registry_compatible: bool
    evtool_compatible: bool
    messages: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return self.registry_compatible == self.evtool_compatible


@dataclass(slots=True)
class CheckReport:
    """Everything one `schema check` found, in catalogue order."""

    findings: list[Finding] = field(default_factory=list)
    pairs: list[CheckedPair] = field(default_factory=list)
    subjects_checked: int = 0
    modes: dict[str, str] = field(default_factory=dict)
    registry_verdicts: list[RegistryVerdict] = field(default_factory=list)

    @property
    def pairs_checked(self) -> int:
        return len(self.pairs)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """No finding that fails the check (warnings, e.g. a doc-only edit, do not)."""
        return not self.errors

    @property
    def exit_code(self) -> ExitCode:
        """What `schema check` ends with: CHECK_FAILED as soon as one finding stands."""
        return ExitCode.OK if self.ok else ExitCode.CHECK_FAILED


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions of a schema, classified both ways (`schema diff`)."""

    code: str
    pointer: str
    side: Side  # READER is the new schema, WRITER the old one, for pointer lookup
    message: str
    breaks_backward: bool
    breaks_forward: bool
