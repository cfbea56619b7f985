"""A check that runs out of stack is bad input naming its files (exit 2), never a verdict."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evtool.catalog import load_catalog
from evtool.compat.check import check_catalog
from evtool.compat.diff import diff_files
from evtool.config import Settings
from evtool.errors import ExitCode, SchemaError
from evtool.modes import CompatibilityMode


def _items_chain(levels: int, leaf: str) -> str:
    return '{"type": "array", "items": ' * levels + json.dumps({"type": leaf}) + "}" * levels


@pytest.fixture
def tight_stack() -> Iterator[None]:
    """Little stack left: a chain well inside the depth limit then exhausts it in the engine,
    as a $ref web or a smaller thread stack could."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 120)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_recursion_in_the_engine_names_the_pair(tmp_path: Path, tight_stack: None) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "1.json").write_text(_items_chain(60, "integer"))
    (tmp_path / "s" / "2.json").write_text(_items_chain(60, "string"))
    catalog = load_catalog(tmp_path)
    with pytest.raises(SchemaError, match=r"s/1\.json.*nested too deep to check") as caught:
        check_catalog(catalog, Settings(schema_dir=tmp_path), mode=CompatibilityMode.FULL)
    assert caught.value.exit_code is ExitCode.USAGE


def test_recursion_in_diff_names_the_files(tmp_path: Path, tight_stack: None) -> None:
    (tmp_path / "1.json").write_text(_items_chain(60, "integer"))
    (tmp_path / "2.json").write_text(_items_chain(60, "string"))
    with pytest.raises(SchemaError, match=r"1\.json and .*2\.json: nested too deep to check"):
        diff_files(tmp_path / "1.json", tmp_path / "2.json")
