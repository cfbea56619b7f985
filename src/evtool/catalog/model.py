"""The catalogue: subjects, their numbered versions, and the files they came from.

A version is a `formats.base.SchemaFile` (re-exported here): the formats define it, the catalogue
collects them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evtool.errors import UsageError
from evtool.formats.base import SchemaFile, SchemaFormat

__all__ = ["Catalog", "SchemaFile", "SchemaFormat", "Subject"]


@dataclass(frozen=True, slots=True)
class Subject:
    name: str
    format: SchemaFormat
    versions: tuple[SchemaFile, ...]  # ordered by version number

    def version(self, number: int) -> SchemaFile:
        for schema in self.versions:
            if schema.version == number:
                return schema
        known = ", ".join(str(s.version) for s in self.versions)
        raise UsageError(
            f"subject {self.name!r} has no version {number} (versions: {known})",
        )

    @property
    def latest(self) -> SchemaFile:
        return self.versions[-1]


@dataclass(frozen=True, slots=True)
class Catalog:
    root: Path
    subjects: dict[str, Subject] = field(default_factory=dict)  # sorted by name

    def subject(self, name: str) -> Subject:
        try:
            return self.subjects[name]
        except KeyError:
            known = ", ".join(self.subjects) or "none"
            raise UsageError(
                f"unknown subject {name!r} in {self.root}",
                hint=f"known subjects: {known}",
            ) from None
