"""`schema push` and `schema pull`: the catalogue in git and the registry kept as one.

Push registers the catalogue's versions in order, oldest first, so the registry sees the same
history the check judged; it is idempotent (a version already registered is looked up, not
registered again) and `--dry-run` only says what it would do. Pull writes the registry's
subjects into the `schemas/<subject>/<version>` layout and never overwrites a file that differs
unless asked to.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from evtool.catalog.model import Catalog
from evtool.config import Settings
from evtool.errors import ExitCode, InputError
from evtool.registry.client import RegistryClient, RegistryError
from evtool.registry.naming import folder_for, registry_subject
from evtool.registry.published import schema_type_of

SUFFIXES = {"AVRO": ".avsc", "JSON": ".json", "PROTOBUF": ".proto"}


class PushOutcome(StrEnum):
    REGISTERED = "registered"
    ALREADY_REGISTERED = "already-registered"
    WOULD_REGISTER = "would-register"
    REFUSED = "refused"  # the registry found it incompatible (or invalid): nothing after it is pushed


@dataclass(frozen=True, slots=True)
class PushStep:
    subject: str
    registry_subject: str
    version: int
    outcome: PushOutcome
    schema_id: int | None = None
    registry_version: int | None = None
    reason: str | None = None


def push(
    catalog: Catalog, settings: Settings, client: RegistryClient, *, dry_run: bool = False
) -> Iterator[PushStep]:
    for subject in catalog.subjects.values():
        name = registry_subject(subject, settings)
        for schema in subject.versions:
            schema_type = schema_type_of(schema.format)
            found = client.lookup(name, schema.text, schema_type)
            if found is not None:
                yield PushStep(
                    subject.name,
                    name,
                    schema.version,
                    PushOutcome.ALREADY_REGISTERED,
                    found.id,
                    found.version,
                )
                continue
            if dry_run:
                yield PushStep(subject.name, name, schema.version, PushOutcome.WOULD_REGISTER)
                continue
            try:
                schema_id = client.register(name, schema.text, schema_type)
            except RegistryError as exc:
                if exc.incompatible or exc.code == 42201:
                    yield PushStep(
                        subject.name,
                        name,
                        schema.version,
                        PushOutcome.REFUSED,
                        reason=f"{exc.name}: {exc.message}",
                    )
                    break  # later versions build on this one
                raise
            registered = client.lookup(name, schema.text, schema_type)
            yield PushStep(
                subject.name,
                name,
                schema.version,
                PushOutcome.REGISTERED,
                schema_id,
                registered.version if registered else None,
            )


def push_exit_code(steps: list[PushStep]) -> ExitCode:
    return ExitCode.CHECK_FAILED if any(s.outcome is PushOutcome.REFUSED for s in steps) else ExitCode.OK


class PullOutcome(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"
    OVERWRITTEN = "overwritten"


@dataclass(frozen=True, slots=True)
class PullStep:
    registry_subject: str
    folder: str
    version: int
    path: Path
    outcome: PullOutcome
    level: str


def pull(
    client: RegistryClient,
    settings: Settings,
    schema_dir: Path,
    *,
    subjects: list[str] | None = None,
    overwrite: bool = False,
    known: Catalog | None = None,
) -> list[PullStep]:
    """Every version of the chosen registry subjects (all, by default) into `schema_dir`.

    Everything is read and checked before the first file is written, so a refusal leaves the
    directory as it was.
    """
    names = subjects or sorted(s for s in client.subjects() if not s.endswith("-key"))
    planned: list[tuple[PullStep, str]] = []
    for name in names:
        folder = folder_for(name, settings, known.subjects.values() if known else ())
        level = client.level(name)
        versions = client.versions(name)
        if not versions:
            raise InputError(f"registry subject {name!r} not found", hint="list them with GET /subjects")
        for version in versions:
            schema = client.schema(name, version)
            text = _pretty(schema.schema, schema.schema_type)
            path = schema_dir / folder / f"{version}{SUFFIXES.get(schema.schema_type, '.txt')}"
            outcome = PullOutcome.WRITTEN
            if path.exists():
                current = path.read_text(encoding="utf-8")
                if _same(current, text, schema.schema_type):
                    outcome = PullOutcome.UNCHANGED
                elif overwrite:
                    outcome = PullOutcome.OVERWRITTEN
                else:
                    raise InputError(
                        f"{path}: differs from {name} version {version} in the registry",
                        hint="a published version changed on one side; compare them, or pass --overwrite",
                    )
            planned.append((PullStep(name, folder, version, path, outcome, level), text))
    for step, text in planned:
        if step.outcome is not PullOutcome.UNCHANGED:
            _write_atomically(step.path, text)
    return [step for step, _ in planned]


def _pretty(schema: str, schema_type: str) -> str:
    if schema_type in ("AVRO", "JSON"):
        return json.dumps(json.loads(schema), indent=2, ensure_ascii=False) + "\n"
    return schema if schema.endswith("\n") else schema + "\n"


def _same(current: str, pulled: str, schema_type: str) -> bool:
    if schema_type in ("AVRO", "JSON"):
        try:
            return bool(json.loads(current) == json.loads(pulled))
        except json.JSONDecodeError:
            return False
    return current.strip() == pulled.strip()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def record_levels(config_path: Path, steps: list[PullStep], settings: Settings) -> bool:
    """Writes each pulled subject's level (and its registry name where naming cannot derive it) into
    evtool.toml, keeping the file's comments and layout (tomlkit). True when the file changed."""
    import tomlkit

    document = (
        tomlkit.parse(config_path.read_text(encoding="utf-8")) if config_path.exists() else tomlkit.document()
    )
    if "subjects" not in document:
        document["subjects"] = tomlkit.table(is_super_table=True)
    table = document["subjects"]
    assert isinstance(table, dict)
    changed = False
    for step in {s.folder: s for s in steps}.values():
        entry = table.get(step.folder)
        if entry is None:
            entry = tomlkit.table()
            table[step.folder] = entry
        if entry.get("mode") != step.level:
            entry["mode"] = step.level
            changed = True
        derived = folder_for(step.registry_subject, settings)
        underivable = settings.registry.naming == "topic" and not step.registry_subject.endswith("-value")
        if (derived != step.folder or underivable) and entry.get("registry_subject") != step.registry_subject:
            entry["registry_subject"] = step.registry_subject
            changed = True
    if changed:
        _write_atomically(config_path, tomlkit.dumps(document))
    return changed
