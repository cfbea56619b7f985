"""The one interface every schema format implements, and the plain data it shares.

The catalogue, the check planner, `schema diff`, generation and validation call only this; what a
format's parsed model looks like is its own business (callers hold it as an opaque `object` and
hand it back to the same format). Adding a format is adding a package that exposes `FORMAT`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from evtool.compat.findings import Change, Incompatibility

if TYPE_CHECKING:
    from evtool.catalog.model import SchemaFile
    from evtool.events.context import GenContext

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


def narrow(value: object, kind: type[T], fmt: str) -> T:
    """The parsed model a format handed out, back in its own type (a wrong one is a bug)."""
    if not isinstance(value, kind):
        raise TypeError(f"{fmt}: expected a parsed {kind.__name__}, got {type(value).__name__}")
    return value
