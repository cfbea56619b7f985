"""`schema diff`: every change between two schema files, each classified both ways."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evtool.catalog.loader import read_schema_file
from evtool.catalog.model import SchemaFile
from evtool.compat.check import too_deep_names
from evtool.errors import UsageError
from evtool.formats.findings import Change, Location, Side


@dataclass(frozen=True, slots=True)
class PlacedChange:
    change: Change
    location: Location


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    old: SchemaFile
    new: SchemaFile
    changes: list[PlacedChange]

    @property
    def backward_compatible(self) -> bool:
        return not any(c.change.breaks_backward for c in self.changes)

    @property
    def forward_compatible(self) -> bool:
        return not any(c.change.breaks_forward for c in self.changes)


def diff_files(old_path: Path, new_path: Path) -> SchemaDiff:
    old = read_schema_file(old_path)
    new = read_schema_file(new_path)
    if old.format != new.format:
        raise UsageError(
            f"{old.path} is {old.format.value} but {new.path} is {new.format.value}",
            hint="diff two versions of the same format",
        )
    with too_deep_names(old, new):
        changes = old.handler.changes(old.parsed(), new.parsed())
    placed = []
    for change in changes:
        schema = new if change.side is Side.READER else old
        placed.append(PlacedChange(change, Location(schema.path, schema.line_of(change.pointer))))
    return SchemaDiff(old=old, new=new, changes=placed)
