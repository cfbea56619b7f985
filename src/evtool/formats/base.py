"""The one interface every schema format implements, the plain data it shares, and its registry.

The catalogue, the check planner, `schema diff`, generation and validation call only this; what a
format's parsed model looks like is its own business (callers hold it as an opaque `object` and
hand it back to the same format). Adding a format is adding a package that exposes `FORMAT` and
naming it in `PACKAGES`; packages are imported on first use, so a command that never meets a
.proto file never loads protoc.

`SchemaFile` lives here, not in the catalogue, because it is what every format method takes: the
catalogue (which finds and loads files) sits above the formats and builds on this.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from evtool.errors import SchemaError
from evtool.formats.findings import Change, Incompatibility

if TYPE_CHECKING:
    from evtool.values.context import GenContext

DataGenerator = Callable[["GenContext"], Any]
Check = Callable[[Any], str | None]  # data -> None when valid, else one line saying what is wrong
IsValid = Callable[[Any], bool]  # the hot path's yes/no; ask the Check for the reason after a no
Encode = Callable[[Any], bytes]  # one value -> its binary encoding in the format's wire form

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Peers:
    """The other files of the catalogue a schema may import, by catalogue-relative name.

    `subject/version.ext` -> text (a whole catalogue, loaded or at a git ref), or read on demand
    below `root` (a file diffed on its own). `cache` is scratch space a format may keep per
    catalogue (Protobuf compiles a catalogue's files in a few protoc runs, not one per file).
    Formats without imports ignore it.
    """

    texts: Mapping[str, str]
    root: Path | None = None
    cache: dict[str, object] = field(default_factory=dict, compare=False)

    @staticmethod
    def none() -> Peers:
        return Peers({})

    def text(self, name: str) -> str | None:
        found = self.texts.get(name)
        if found is not None or self.root is None or name.startswith(("/", "..")) or ".." in name:
            return found
        try:
            return (self.root / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


class Format(Protocol):
    """A schema format: parser, model, compatibility rules, locator, generator, validator, codec."""

    @property
    def name(self) -> str:
        """The value users write in evtool.toml `format = ...`, and SchemaFile.format."""
        ...

    @property
    def label(self) -> str:
        """As shown to people: "Avro", "JSON Schema", "Protobuf"."""
        ...

    @property
    def suffixes(self) -> tuple[str, ...]:
        """File name endings that mark a version file of this format."""
        ...

    def load(self, text: str, *, source: str) -> object:
        """The document kept on SchemaFile (cheap syntax check only); SchemaError with file:line."""
        ...

    def parse(self, schema: SchemaFile, peers: Peers) -> object:
        """The format's model of one version (imports resolved through `peers`)."""
        ...

    def incompatibilities(self, reader: object, writer: object) -> list[Incompatibility]:
        """Why `reader` cannot read what `writer` writes under the registry's rules; empty when it can."""
        ...

    def warnings(self, reader: object, writer: object) -> list[Incompatibility]:
        """Changes the registry accepts that still lose or change data, each with its proof (the
        opt-in strict rule set: `schema check --strict` fails on them)."""
        ...

    def changes(self, old: object, new: object) -> list[Change]:
        """Every difference between two versions, each classified both ways (`schema diff`)."""
        ...

    def locate(self, schema: SchemaFile, pointer: str) -> int | None:
        """The line a finding's pointer names in the schema's text."""
        ...

    def changed_at(self, old: SchemaFile, new: SchemaFile) -> str | None:
        """Where a published version's content changed (a pointer), or None when it did not."""
        ...

    def docs_only(self, old: object, new: object) -> bool:
        """Whether two loaded documents differ only in documentation (an edit to a published
        version that changes no data: a warning, not a failure)."""
        ...

    def generator(self, schema: SchemaFile) -> DataGenerator:
        """Realistic values valid for the schema, as the format's codec takes them."""
        ...

    def checks(self, schema: SchemaFile) -> tuple[IsValid, Check]:
        """(is_valid, check) of a value against the schema."""
        ...

    def encoder(self, schema: SchemaFile) -> Encode | None:
        """Binary encoding of one value (Avro: schemaless datum; Protobuf: message bytes), or
        None for a format whose values travel as JSON."""
        ...


class SchemaFormat(StrEnum):
    """The names of the registered formats, as written in evtool.toml."""

    AVRO = "avro"
    JSON = "json"
    PROTOBUF = "protobuf"


PACKAGES = ("evtool.formats.avro", "evtool.formats.jsonschema", "evtool.formats.protobuf")


@functools.cache
def all_formats() -> tuple[Format, ...]:
    return tuple(importlib.import_module(name).FORMAT for name in PACKAGES)


@functools.cache
def _by_suffix() -> tuple[tuple[str, Format], ...]:
    pairs = [(suffix, fmt) for fmt in all_formats() for suffix in fmt.suffixes]
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))  # `.schema.json` before `.json`


def format_of(file_name: str) -> tuple[str, Format] | None:
    """(stem, format) of a schema file name, or None for a file that is not a schema."""
    for suffix, fmt in _by_suffix():
        if file_name.endswith(suffix):
            return file_name[: -len(suffix)], fmt
    return None


def format_named(name: str) -> Format:
    for fmt in all_formats():
        if fmt.name == name:
            return fmt
    known = ", ".join(f.name for f in all_formats())
    raise SchemaError(f"unknown schema format {name!r}", hint=f"use one of: {known}")


def suffix_help() -> str:
    """`.avsc (Avro), .json / .schema.json (JSON Schema), ...` for layout hints."""
    return ", ".join(f"{' / '.join(f.suffixes)} ({f.label})" for f in all_formats())


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
        return format_named(self.format)

    def parsed(self) -> object:
        """The format's model of this version, parsed once (a transitive check asks many times)."""
        if not self._model:
            self._model.append(self.handler.parse(self, self.peers or Peers.none()))
        return self._model[0]

    def line_of(self, pointer: str) -> int | None:
        """Remembered: a transitive check reports one field of a version against many others."""
        try:
            return self._lines[pointer]
        except KeyError:
            line = self._lines[pointer] = self.handler.locate(self, pointer)
            return line


def narrow(value: object, kind: type[T], fmt: str) -> T:
    """The parsed model a format handed out, back in its own type (a wrong one is a bug)."""
    if not isinstance(value, kind):
        raise TypeError(f"{fmt}: expected a parsed {kind.__name__}, got {type(value).__name__}")
    return value
