"""The catalogue: subjects, their numbered versions, and the files they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evtool.errors import UsageError

if TYPE_CHECKING:
    from evtool.formats.base import Format, Peers


class SchemaFormat(StrEnum):
    """The names of the registered formats (`evtool.formats`), as written in evtool.toml."""

    AVRO = "avro"
    JSON = "json"
    PROTOBUF = "protobuf"


@dataclass(frozen=True, slots=True)
class SchemaFile:
    """One version of one subject, with its text kept so findings can name lines."""

    subject: str
    version: int
    format: SchemaFormat
    path: Path  # as shown to users: relative to the working directory when possible
    text: str
    document: Any  # what the format's `load` made of the text (JSON formats: the parsed JSON)
    peers: Peers | None = field(default=None, repr=False, compare=False)  # files it may import
    _lines: dict[str, int | None] = field(default_factory=dict, init=False, repr=False, compare=False)
    _model: list[object] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def handler(self) -> Format:
        from evtool.formats import format_named

        return format_named(self.format)

    def parsed(self) -> object:
        """The format's model of this version, parsed once (a transitive check asks many times)."""
        if not self._model:
            from evtool.formats.base import Peers

            self._model.append(self.handler.parse(self, self.peers or Peers.none()))
        return self._model[0]

    def line_of(self, pointer: str) -> int | None:
        """Remembered: a transitive check reports one field of a version against many others."""
        try:
            return self._lines[pointer]
        except KeyError:
            line = self._lines[pointer] = self.handler.locate(self, pointer)
            return line


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
