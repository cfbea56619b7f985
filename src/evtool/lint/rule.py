"""A lint rule: a class with a stable code, a name, a group, and its docstring as documentation.

Like sqlfluff's rules: codes never change meaning or get reused (configuration and ignores name
them), the docstring is what `schema lint --list-rules` and SARIF's rule help show, and a rule is
added by adding a class to a module of `evtool.lint.rules` — nothing else is edited.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

from evtool.catalog.model import Catalog
from evtool.config import Settings
from evtool.lint.model import Group, LintTarget, Violation


class Rule(ABC):
    code: ClassVar[str]  # EVnnn
    name: ClassVar[str]  # kebab-case, what the finding says
    group: ClassVar[Group]

    @abstractmethod
    def check(self, target: LintTarget) -> Iterable[Violation]:
        """The violations in one subject version."""

    def check_catalogue(
        self, root: Path, catalog: Catalog, settings: Settings
    ) -> Iterator[tuple[str, Violation]]:
        """Violations of the catalogue as a whole, as (subject, violation); most rules have none."""
        return iter(())

    @classmethod
    def documentation(cls) -> str:
        return inspect.getdoc(cls) or ""

    @classmethod
    def summary(cls) -> str:
        return cls.documentation().split("\n", 1)[0]


def all_rules() -> list[type[Rule]]:
    """Every rule class of every module in `evtool.lint.rules`, by code."""
    from evtool.lint import rules

    found: dict[str, type[Rule]] = {}
    for module in pkgutil.iter_modules(rules.__path__):
        loaded = importlib.import_module(f"{rules.__name__}.{module.name}")
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, Rule) and value is not Rule and not inspect.isabstract(value):
                if value.code in found and found[value.code] is not value:
                    raise RuntimeError(f"lint rule code {value.code} used twice")  # a programming error
                found[value.code] = value
    return [found[code] for code in sorted(found)]
