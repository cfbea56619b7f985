"""The example catalogue that ships with evtool, so `evtool demo` works with no files of one's own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from evtool.config import Settings, load_settings


def bundled_schema_dir() -> Path:
    """Installed wheels carry it as package data; a source checkout has it at the top level."""
    packaged = Path(__file__).resolve().parent.parent / "bundled_schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schemas"


def bundled_settings() -> Settings:
    """The modes and owners the example catalogue is checked with (its evtool.toml)."""
    package = Path(__file__).resolve().parent.parent
    config = package / "bundled_evtool.toml"
    if not config.is_file():
        config = package.parents[1] / "evtool.toml"
    return dataclasses.replace(load_settings(config), schema_dir=bundled_schema_dir())


def resolve_schema_dir(explicit: Path | None, configured: Path) -> Path:
    """`--schemas` if given, else the configured folder, else the bundled catalogue.

    The last fallback is what lets `evtool generate` and `evtool demo` work in an empty
    folder on a fresh machine.
    """
    if explicit is not None:
        return explicit
    if configured.is_dir():
        return configured
    return bundled_schema_dir()


def resolve_catalogue(explicit: Path | None, settings: Settings) -> tuple[Path, Settings]:
    """The schema folder (as `resolve_schema_dir`) and the settings that go with it.

    The bundled catalogue comes with its own evtool.toml (modes, owners, mix weights); a
    project's settings name its own subjects, not these.
    """
    root = resolve_schema_dir(explicit, settings.schema_dir)
    if root == bundled_schema_dir():
        return root, bundled_settings()
    return root, settings
