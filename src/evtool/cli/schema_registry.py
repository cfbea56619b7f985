"""`evtool schema push` / `schema pull`, and the registry options `schema check` shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evtool.cli.conventions import examples
from evtool.errors import ExitCode
from evtool.registry.client import registry_client

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        metavar="URL",
        help="Schema Registry URL (default: [registry] url in evtool.toml). Credentials come from "
        "[registry] username/password or token as env:VAR.",
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", metavar="FILE", help="Config file (default: nearest evtool.toml).")
]
SchemasOpt = Annotated[
    Path | None,
    typer.Option("--schemas", metavar="DIR", help="Schema directory (default: schema_dir from evtool.toml)."),
]


def register(schema_app: typer.Typer) -> None:
    schema_app.command("push", epilog=examples(
        "evtool schema push --registry http://127.0.0.1:8081 --dry-run",
        "evtool schema push",
    ))(push)
    schema_app.command("pull", epilog=examples(
        "evtool schema pull --registry http://127.0.0.1:8081",
        "evtool schema pull orders-value --overwrite",
    ))(pull)


def push(
    registry: RegistryOpt = None,
    schemas: SchemasOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be registered; register nothing.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Register the catalogue's versions in the registry, oldest first (the job that runs on merge).

    Idempotent: versions already registered are found, not registered again. A version the
    registry refuses (incompatible under its level) stops that subject and fails with exit 1.
    """
    from evtool.catalog import load_catalog
    from evtool.config import load_settings
    from evtool.registry.sync import PushOutcome, push_exit_code
    from evtool.registry.sync import push as push_catalog

    settings = load_settings(config)
    catalog = load_catalog(schemas or settings.schema_dir)
    console = Console(highlight=False, soft_wrap=True)
    steps = []
    with registry_client(registry, settings) as client:
        for step in push_catalog(catalog, settings, client, dry_run=dry_run):
            steps.append(step)
            where = f"{step.subject} v{step.version} → {step.registry_subject}"
            ids = f"(id {step.schema_id}, version {step.registry_version})"
            if step.outcome is PushOutcome.REGISTERED:
                console.print(f"[green]registered[/] {escape(where)} {ids}")
            elif step.outcome is PushOutcome.ALREADY_REGISTERED:
                console.print(f"[dim]already registered[/] {escape(where)} {ids}")
            elif step.outcome is PushOutcome.WOULD_REGISTER:
                console.print(f"[yellow]would register[/] {escape(where)}")
            else:
                console.print(f"[red]refused[/] {escape(where)}: {escape(step.reason or '')}")
    new = sum(s.outcome in (PushOutcome.REGISTERED, PushOutcome.WOULD_REGISTER) for s in steps)
    verb = "would register" if dry_run else "registered"
    console.print(
        f"{len(steps)} version(s): {new} {verb}, "
        f"{sum(s.outcome is PushOutcome.ALREADY_REGISTERED for s in steps)} already registered"
    )
    code = push_exit_code(steps)
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def pull(
    subjects: Annotated[
        list[str] | None,
        typer.Argument(metavar="[SUBJECT]...", help="Registry subjects (default: every -value subject)."),
    ] = None,
    registry: RegistryOpt = None,
    schemas: SchemasOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace local files that differ from the registry.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Download registry subjects into schemas/<subject>/<version>, and their levels into evtool.toml.
    """
    from evtool.catalog import load_catalog
    from evtool.config import CONFIG_FILE, find_config, load_settings
    from evtool.errors import InputError
    from evtool.registry.sync import PullOutcome, record_levels
    from evtool.registry.sync import pull as pull_subjects

    settings = load_settings(config)
    schema_dir = schemas or settings.schema_dir
    try:
        known = load_catalog(schema_dir) if schema_dir.is_dir() else None
    except InputError:
        known = None
    console = Console(highlight=False, soft_wrap=True)
    with registry_client(registry, settings) as client:
        steps = pull_subjects(
            client, settings, schema_dir, subjects=subjects or None, overwrite=overwrite, known=known
        )
    for step in steps:
        style = "dim" if step.outcome is PullOutcome.UNCHANGED else "green"
        console.print(
            f"[{style}]{step.outcome.value}[/] {escape(str(step.path))} "
            f"({escape(step.registry_subject)} version {step.version}, {step.level})"
        )
    config_path = config or settings.source or find_config(Path.cwd()) or Path.cwd() / CONFIG_FILE
    if config_path.name == "pyproject.toml":
        console.print(
            "[yellow]levels not written:[/] settings live in pyproject.toml; add them to "
            "[tool.evtool.subjects]"
        )
    elif record_levels(config_path, steps, settings):
        console.print(f"levels written to {escape(str(config_path))}")
