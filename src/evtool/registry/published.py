"""The registry's side of a check: its subjects as a catalogue, its levels as the modes.

`schema check --registry` is `--against` with the registry as the published truth: versions the
registry has are published (and immutable); local versions it lacks are new and are checked
against the registered ones, under the level the registry enforces, not evtool.toml's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat, Subject
from evtool.compat.check import check_catalog
from evtool.config import Settings, SubjectSettings
from evtool.errors import SchemaError, UsageError
from evtool.formats.findings import CheckReport, RegistryVerdict
from evtool.formats.jsontext import parse_json_text
from evtool.modes import CompatibilityMode
from evtool.registry.client import RegisteredSchema, RegistryClient
from evtool.registry.naming import registry_subject

SCHEMA_TYPES: dict[SchemaFormat, str] = {SchemaFormat.AVRO: "AVRO", SchemaFormat.JSON: "JSON"}
FORMATS = {schema_type: fmt for fmt, schema_type in SCHEMA_TYPES.items()}


def schema_type_of(fmt: SchemaFormat) -> str:
    try:
        return SCHEMA_TYPES[fmt]
    except KeyError:
        raise UsageError(f"the registry commands do not handle {fmt} schemas yet") from None


@dataclass(frozen=True, slots=True)
class PublishedSubject:
    name: str  # the catalogue folder
    registry_name: str
    level: CompatibilityMode
    level_name: str
    registered: tuple[RegisteredSchema, ...]


def registered_file(folder: str, schema: RegisteredSchema, url: str) -> SchemaFile:
    """A registered version as a catalogue file; its path says where it came from."""
    fmt = FORMATS.get(schema.schema_type)
    if fmt is None:
        raise UsageError(
            f"{schema.subject} version {schema.version} is {schema.schema_type}, "
            "which the registry commands do not handle yet"
        )
    shown = Path(f"{url}/subjects/{schema.subject}/versions/{schema.version}")
    try:
        document = parse_json_text(schema.schema, source=str(shown))
    except SchemaError as exc:
        raise UsageError(f"the registry holds a schema evtool cannot read: {exc.message}") from None
    return SchemaFile(folder, schema.version, fmt, shown, schema.schema, document)


def read_published(catalog: Catalog, settings: Settings, client: RegistryClient) -> list[PublishedSubject]:
    published: list[PublishedSubject] = []
    for subject in catalog.subjects.values():
        name = registry_subject(subject, settings)
        registered = tuple(client.schema(name, v) for v in client.versions(name))
        level_name = client.level(name)
        try:
            level = CompatibilityMode.parse(level_name)
        except ValueError as exc:
            raise UsageError(f"registry subject {name!r} has level {level_name!r}: {exc}") from None
        published.append(PublishedSubject(subject.name, name, level, level_name, registered))
    return published


def check_against_registry(
    catalog: Catalog,
    settings: Settings,
    client: RegistryClient,
    *,
    mode: CompatibilityMode | None = None,
    ask_registry: bool = True,
    strict: bool = False,
) -> CheckReport:
    """evtool's check of the new local versions under the registry's levels, and the registry's own
    verdict beside each (asked with `POST /compatibility/...?verbose=true`)."""
    published = read_published(catalog, settings, client)
    base_subjects: dict[str, Subject] = {}
    current_subjects: dict[str, Subject] = {}
    levels: dict[str, SubjectSettings] = dict(settings.subjects)
    for entry in published:
        local = catalog.subjects[entry.name]
        files = tuple(registered_file(entry.name, s, client.url) for s in entry.registered)
        if files:
            base_subjects[entry.name] = Subject(entry.name, files[0].format, files)
        # versions the repository no longer keeps are still part of the history being checked
        present = {s.version for s in local.versions}
        merged = sorted(
            [*local.versions, *(f for f in files if f.version not in present)], key=lambda s: s.version
        )
        current_subjects[entry.name] = Subject(entry.name, local.format, tuple(merged))
        configured = levels.get(entry.name, SubjectSettings())
        levels[entry.name] = dataclasses.replace(configured, mode=entry.level)
    current = Catalog(root=catalog.root, subjects=current_subjects)
    base = Catalog(root=catalog.root, subjects=base_subjects)
    report = check_catalog(
        current, dataclasses.replace(settings, subjects=levels), mode=mode, base=base, strict=strict
    )
    if ask_registry:
        report.registry_verdicts.extend(_registry_verdicts(catalog, published, report, client, mode))
    return report


def _registry_verdicts(
    catalog: Catalog,
    published: list[PublishedSubject],
    report: CheckReport,
    client: RegistryClient,
    mode: CompatibilityMode | None,
) -> list[RegistryVerdict]:
    broken = {(f.subject, f.new_version) for f in report.errors if f.direction is not None}
    verdicts: list[RegistryVerdict] = []
    for entry in published:
        registered = {s.version for s in entry.registered}
        for schema in catalog.subjects[entry.name].versions:
            if schema.version in registered or not entry.registered:
                continue  # a first version has nothing to be compatible with
            answer = client.check_compatibility(
                entry.registry_name, schema.text, schema_type_of(schema.format)
            )
            verdicts.append(
                RegistryVerdict(
                    subject=entry.name,
                    registry_subject=entry.registry_name,
                    version=schema.version,
                    level=entry.level_name,  # the registry judges under its own level, whatever the override
                    registry_compatible=answer.compatible,
                    evtool_compatible=(entry.name, schema.version) not in broken,
                    messages=answer.messages,
                )
            )
    return verdicts
