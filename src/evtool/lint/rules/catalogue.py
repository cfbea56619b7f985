"""The catalogue: every subject has an owner and a declared mode, and holds at least one version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from evtool.catalog.model import Catalog
from evtool.config import Settings
from evtool.formats import format_of
from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule


class ModeDeclared(Rule):
    """Each subject declares its compatibility mode in evtool.toml rather than inheriting the default.

    The mode is a promise to consumers; an inherited one is a promise nobody decided to make.
    """

    code = "EV701"
    name = "mode-declared"
    group = Group.STANDARD

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.settings is None or target.settings.mode is None:
            yield Violation("", f"subject {target.subject.name!r} declares no mode in evtool.toml")


class OwnerDeclared(Rule):
    """Each subject names its owning team (`owner` in evtool.toml), so a failed check has someone to go to."""

    code = "EV702"
    name = "owner-declared"
    group = Group.STANDARD

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.settings is None or not target.settings.owner:
            yield Violation("", f"subject {target.subject.name!r} names no owner in evtool.toml")


class NoEmptySubject(Rule):
    """No subject folder is empty: a folder with no version file is a subject that checks nothing."""

    code = "EV703"
    name = "no-empty-subject"
    group = Group.STANDARD

    def check(self, target: LintTarget) -> Iterator[Violation]:
        return iter(())

    def check_catalogue(
        self, root: Path, catalog: Catalog, settings: Settings
    ) -> Iterator[tuple[str, Violation]]:
        if not root.is_dir():
            return
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if folder.name not in catalog.subjects and not any(format_of(f.name) for f in folder.iterdir()):
                yield folder.name, Violation("", f"subject folder {folder.name!r} holds no schema version")
