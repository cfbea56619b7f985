"""`evtool schema check` and `evtool schema diff`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evtool import __version__
from evtool.cli.views import write_atomically, write_text_view
from evtool.errors import ExitCode, UsageError
from evtool.modes import CompatibilityMode

if TYPE_CHECKING:
    from evtool.compat.diff import SchemaDiff
    from evtool.compat.findings import CheckReport, Finding


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    SARIF = "sarif"
    GITHUB = "github"


schema_app = typer.Typer(help="Check and compare event schemas.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from evtool.cli import schema_lint, schema_registry

    schema_registry.register(schema_app)
    schema_lint.register(schema_app)
    app.add_typer(schema_app, name="schema")


@schema_app.command("check")
def check(
    schemas: Annotated[
        Path | None,
        typer.Option("--schemas", help="Schema directory (default: schema_dir from evtool.toml)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="Override every subject's mode: NONE, BACKWARD[_TRANSITIVE], "
            "FORWARD[_TRANSITIVE], FULL[_TRANSITIVE].",
        ),
    ] = None,
    against: Annotated[
        str | None, typer.Option("--against", help="Git ref to compare with, e.g. main or origin/main.")
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="Report format.")
    ] = OutputFormat.TEXT,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to FILE.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (default: nearest evtool.toml).")
    ] = None,
    asyncapi: Annotated[
        Path | None,
        typer.Option("--asyncapi", metavar="FILE",
                     help="Read the catalogue from an AsyncAPI 3 document (its message payloads) instead of "
                          "a schema directory; with --against, the document at that git ref is the base."),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option("--registry", metavar="URL",
                     help="Check new versions against a Schema Registry, under its levels; its own verdict "
                          "is shown beside evtool's."),
    ] = None,
) -> None:
    """Fail (exit 1) when a schema change breaks the consumers its subject's mode protects."""
    from evtool.catalog import load_catalog, load_catalog_at_ref
    from evtool.compat import ci_output
    from evtool.compat.check import check_catalog
    from evtool.config import load_settings

    settings = load_settings(config)
    mode_override = _parse_mode(mode) if mode else None
    root = schemas or settings.schema_dir
    if asyncapi is not None:
        from evtool.asyncapi.reader import load_asyncapi, load_asyncapi_at_ref, versioned_against

        current_doc = load_asyncapi(asyncapi)
        if against:
            catalog, base = versioned_against(current_doc, load_asyncapi_at_ref(asyncapi, against))
        else:
            catalog, base = current_doc, None
        report = check_catalog(catalog, settings, mode=mode_override, base=base)
    elif registry is not None:
        if against:
            raise UsageError("--registry and --against name two different published histories; pass one")
        from evtool.cli.schema_registry import registry_client
        from evtool.registry.published import check_against_registry

        with registry_client(registry, settings) as client:
            report = check_against_registry(load_catalog(root), settings, client, mode=mode_override)
    else:
        catalog = load_catalog(root)
        base = load_catalog_at_ref(root, against) if against else None
        report = check_catalog(catalog, settings, mode=mode_override, base=base)
    console = Console(highlight=False, soft_wrap=True)
    if output_format is OutputFormat.TEXT:
        if output is not None:
            write_text_view(output, lambda c: _render_text(c, report, settings.owner_of), width=110)
        else:
            _render_text(console, report, settings.owner_of)
    else:
        text = {
            OutputFormat.JSON: lambda: ci_output.to_json(report),
            OutputFormat.JUNIT: lambda: ci_output.to_junit(report),
            OutputFormat.SARIF: lambda: ci_output.to_sarif(report, tool_version=__version__),
            OutputFormat.GITHUB: lambda: ci_output.to_github_commands(report),
        }[output_format]()
        if output is not None:
            write_atomically(output, text)
        else:
            typer.echo(text, nl=False)
        if output_format is OutputFormat.GITHUB and os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
                summary.write(ci_output.to_markdown_summary(report))
    if report.exit_code is not ExitCode.OK:
        raise typer.Exit(int(report.exit_code))


@schema_app.command("diff")
def diff(
    old_file: Annotated[Path, typer.Argument(help="The earlier schema file.")],
    new_file: Annotated[Path, typer.Argument(help="The later schema file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
) -> None:
    """List every change between two schema files, each classified backward / forward.

    Exit 1 when a change breaks backward compatibility (readers of the new schema can no
    longer read data written with the old one: the Schema Registry's default mode), as
    `buf breaking` does, so the command can gate a pull request on its own.
    """
    from evtool.compat.diff import diff_files

    result = diff_files(old_file, new_file)
    _render_diff(result, as_json=as_json)
    if not result.backward_compatible:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))


def _render_diff(result: SchemaDiff, *, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "format": "evtool.schema-diff",
                    "format_version": 1,
                    "old": str(result.old.path),
                    "new": str(result.new.path),
                    "backward_compatible": result.backward_compatible,
                    "forward_compatible": result.forward_compatible,
                    "changes": [
                        {
                            "code": c.change.code,
                            "pointer": c.change.pointer,
                            "file": str(c.location.file),
                            "line": c.location.line,
                            "message": c.change.message,
                            "backward_compatible": not c.change.breaks_backward,
                            "forward_compatible": not c.change.breaks_forward,
                        }
                        for c in result.changes
                    ],
                },
                indent=2,
            )
        )
        return
    console = Console(highlight=False, soft_wrap=True)
    if not result.changes:
        console.print(
            f"[green]no changes[/] between {escape(str(result.old.path))} and {escape(str(result.new.path))}"
        )
        return
    for placed in result.changes:
        change = placed.change
        backward = "[red]breaks backward[/]" if change.breaks_backward else "[green]backward ok[/]"
        forward = "[red]breaks forward[/]" if change.breaks_forward else "[green]forward ok[/]"
        where = f"{placed.location.file}:{placed.location.line or 1}"
        console.print(
            f"{backward}  {forward}  [bold]{escape(change.code)}[/] {escape(where)} "
            f"[dim]{escape(change.pointer or '/')}[/]\n    {escape(change.message)}"
        )
    summary = (
        f"backward {'compatible' if result.backward_compatible else 'INCOMPATIBLE'}, "
        f"forward {'compatible' if result.forward_compatible else 'INCOMPATIBLE'}"
    )
    console.print(f"\n{len(result.changes)} change(s): {summary}")


def _parse_mode(text: str) -> CompatibilityMode:
    try:
        return CompatibilityMode.parse(text)
    except ValueError as exc:
        raise UsageError(f"--mode: {exc}") from None


def _render_text(console: Console, report: CheckReport, owner_of: Callable[[str], str | None]) -> None:
    by_subject: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_subject.setdefault(finding.subject, []).append(finding)
    for subject, mode in report.modes.items():
        found = by_subject.pop(subject, [])
        mark = "[red]✗[/]" if found else "[green]✓[/]"
        owner = owner_of(subject)
        owner_text = f" [dim]owner {escape(owner)}[/]" if owner else ""
        console.print(f"{mark} [bold]{escape(subject)}[/] [dim]{mode}[/]{owner_text}")
        for finding in found:
            _render_finding(console, finding)
    for subject, found in by_subject.items():  # subjects deleted since the base ref
        console.print(f"[red]✗[/] [bold]{escape(subject)}[/] [dim](deleted)[/]")
        for finding in found:
            _render_finding(console, finding)
    verdict = (
        "[green]compatible[/]"
        if report.ok
        else f"[red]{len(report.findings)} incompatibilit{'y' if len(report.findings) == 1 else 'ies'}[/]"
    )
    for answer in report.registry_verdicts:
        said = "compatible" if answer.registry_compatible else "incompatible"
        mark = "[green]agrees[/]" if answer.agrees else "[yellow]DISAGREES[/]"
        console.print(
            f"registry {mark}: {escape(answer.registry_subject)} v{answer.version} {said} under "
            f"{escape(answer.level)}" + (f": {escape('; '.join(answer.messages))}" if answer.messages else "")
        )
    console.print(f"\n{report.subjects_checked} subjects, {report.pairs_checked} pair checks: {verdict}")


def _render_finding(console: Console, finding: Finding) -> None:
    if finding.direction is None:
        versions = f"v{finding.old_version}"
    else:
        versions = f"v{finding.old_version} → v{finding.new_version} {finding.direction.value}"
    where = f"{finding.location.file}:{finding.location.line or 1}"
    console.print(
        f"  [red]{escape(versions)}[/]  [bold]{escape(finding.code)}[/]  "
        f"{escape(where)} [dim]{escape(finding.pointer or '/')}[/]"
    )
    console.print(f"    {escape(finding.message)}")
    if finding.counterexample is not None:
        event = json.dumps(finding.counterexample.event, ensure_ascii=False, default=str)
        console.print(f"    counterexample: [cyan]{escape(event)}[/]")
        console.print(f"    [dim]proof: {escape(finding.counterexample.proof)}[/]")
    elif finding.no_counterexample_reason:
        console.print(f"    [dim]no counterexample: {escape(finding.no_counterexample_reason)}[/]")
