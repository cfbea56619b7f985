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
from evtool.cli.conventions import examples, warn_deprecated
from evtool.cli.views import write_atomically, write_text_view
from evtool.errors import ExitCode, UsageError
from evtool.formats.findings import Severity
from evtool.modes import CompatibilityMode

if TYPE_CHECKING:
    from evtool.compat.diff import SchemaDiff
    from evtool.formats.findings import CheckReport, Finding


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    SARIF = "sarif"
    GITHUB = "github"


class DiffFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


schema_app = typer.Typer(
    help="Check and compare event schemas.",
    no_args_is_help=True,
    epilog=examples("evtool schema check", "evtool schema diff schemas/s/1.json schemas/s/2.json"),
)


def _print_codes(as_json: bool) -> None:
    from evtool.compat.ci_output import code_to_dict
    from evtool.compat.codes import CODES, NOTHING_TO_FIX

    if as_json:
        entries = [code_to_dict(entry) for entry in CODES.values()]
        typer.echo(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False, soft_wrap=True)
    for entry in CODES.values():
        formats = ", ".join(sorted(f.value for f in entry.formats))
        console.print(f"[bold]{entry.code}[/] [dim]{entry.effect.value} · {formats}[/]")
        fix = f" Fix: {entry.fix}." if entry.fix != NOTHING_TO_FIX else ""
        console.print(f"    {escape(entry.summary)}. {escape(entry.why)}{escape(fix)}")


def register(app: typer.Typer) -> None:
    from evtool.cli import schema_lint, schema_registry

    schema_registry.register(schema_app)
    schema_lint.register(schema_app)
    app.add_typer(schema_app, name="schema")


@schema_app.command("check", epilog=examples(
    "evtool schema check",
    "evtool schema check --against origin/main --format github",
    "evtool schema check --format sarif -o schema.sarif",
    "evtool schema check --compatibility FULL_TRANSITIVE --format junit -o schema.xml",
    "evtool schema check --list-codes",
))
def check(
    schemas: Annotated[
        Path | None,
        typer.Option("--schemas", help="Schema directory (default: schema_dir from evtool.toml)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--compatibility",
            help="Override every subject's compatibility level (as Schema Registry calls it): "
            "NONE, BACKWARD[_TRANSITIVE], FORWARD[_TRANSITIVE], FULL[_TRANSITIVE].",
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
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Also fail on changes the registry accepts that corrupt data "
                     "(int64→int32, decimal rescale, repeated→singular …), shown as warnings otherwise."),
    ] = False,
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
    list_codes: Annotated[
        bool,
        typer.Option("--list-codes",
                     help="Print the finding-code catalogue (as JSON with --format json) and exit."),
    ] = False,
) -> None:
    """Fail (exit 1) when a schema change breaks the consumers its subject's mode protects."""
    from evtool.catalog import load_catalog, load_catalog_at_ref
    from evtool.compat import ci_output
    from evtool.compat.check import check_catalog
    from evtool.config import load_settings

    if list_codes:
        _print_codes(output_format is OutputFormat.JSON)
        return

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
        report = check_catalog(catalog, settings, mode=mode_override, base=base, strict=strict)
    elif registry is not None:
        if against:
            raise UsageError("--registry and --against name two different published histories; pass one")
        from evtool.registry.client import registry_client
        from evtool.registry.published import check_against_registry

        with registry_client(registry, settings) as client:
            report = check_against_registry(
                load_catalog(root), settings, client, mode=mode_override, strict=strict
            )
    else:
        catalog = load_catalog(root)
        base = load_catalog_at_ref(root, against) if against else None
        report = check_catalog(catalog, settings, mode=mode_override, base=base, strict=strict)
    console = Console(highlight=False, soft_wrap=True)
    if output_format is OutputFormat.TEXT:
        if output is not None:
            write_text_view(output, lambda c: _render_text(c, report, settings.owner_of), width=110)
        else:
            _render_text(console, report, settings.owner_of)
    else:
        repo = ci_output.repository_root(
            root, settings.source.parent if settings.source is not None else None
        )
        text = {
            OutputFormat.JSON: lambda: ci_output.to_json(report),
            OutputFormat.JUNIT: lambda: ci_output.to_junit(report),
            OutputFormat.SARIF: lambda: ci_output.to_sarif(
                report, tool_version=__version__, root=repo
            ),
            OutputFormat.GITHUB: lambda: ci_output.to_github_commands(report, root=repo),
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


@schema_app.command("diff", epilog=examples(
    "evtool schema diff schemas/commerce.order.placed/2.avsc schemas/commerce.order.placed/3.avsc",
    "evtool schema diff old.json new.json --format json",
))
def diff(
    old_file: Annotated[Path, typer.Argument(help="The earlier schema file.")],
    new_file: Annotated[Path, typer.Argument(help="The later schema file.")],
    output_format: Annotated[
        DiffFormat, typer.Option("--format", help="Output format.")
    ] = DiffFormat.TEXT,
    as_json: Annotated[
        bool, typer.Option("--json", hidden=True, help="Deprecated: --format json.")
    ] = False,
) -> None:
    """List every change between two schema files, each classified backward / forward.

    Exit 1 when a change breaks backward compatibility (readers of the new schema can no
    longer read data written with the old one: the Schema Registry's default mode), as
    `buf breaking` does, so the command can gate a pull request on its own.
    """
    from evtool.compat.diff import diff_files

    if as_json:
        warn_deprecated("evtool schema diff: --json is deprecated, use --format json")
        output_format = DiffFormat.JSON
    result = diff_files(old_file, new_file)
    _render_diff(result, as_json=output_format is DiffFormat.JSON)
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
        raise UsageError(f"--compatibility: {exc}") from None


def _render_text(console: Console, report: CheckReport, owner_of: Callable[[str], str | None]) -> None:
    by_subject: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_subject.setdefault(finding.subject, []).append(finding)
    for subject, mode in report.modes.items():
        found = by_subject.pop(subject, [])
        failing = any(f.severity is Severity.ERROR for f in found)
        mark = "[red]✗[/]" if failing else "[yellow]![/]" if found else "[green]✓[/]"
        owner = owner_of(subject)
        owner_text = f" [dim]owner {escape(owner)}[/]" if owner else ""
        console.print(f"{mark} [bold]{escape(subject)}[/] [dim]{mode}[/]{owner_text}")
        for finding in found:
            _render_finding(console, finding)
    for subject, found in by_subject.items():  # subjects deleted since the base ref
        console.print(f"[red]✗[/] [bold]{escape(subject)}[/] [dim](deleted)[/]")
        for finding in found:
            _render_finding(console, finding)
    incompatible = sum(1 for f in report.errors if f.is_incompatibility)
    edited = len(report.errors) - incompatible
    parts = []
    if incompatible:
        parts.append(f"[red]{incompatible} incompatibilit{'y' if incompatible == 1 else 'ies'}[/]")
    if edited:
        parts.append(f"[red]{edited} published version{'' if edited == 1 else 's'} changed[/]")
    if report.warnings:
        count = len(report.warnings)
        parts.append(f"[yellow]{count} warning{'' if count == 1 else 's'}[/]")
    verdict = ", ".join(parts) if parts else "[green]compatible[/]"
    if report.ok and parts:
        verdict = f"[green]compatible[/] ({verdict})"
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
    colour = "yellow" if finding.severity is Severity.WARNING else "red"
    console.print(
        f"  [{colour}]{escape(versions)}[/]  [bold]{escape(finding.code)}[/]  "
        f"{escape(where)} [dim]{escape(finding.pointer or '/')}[/]"
    )
    console.print(f"    {escape(finding.message)}")
    if finding.counterexample is not None:
        event = json.dumps(finding.counterexample.event, ensure_ascii=False, default=str)
        console.print(f"    counterexample: [cyan]{escape(event)}[/]")
        console.print(f"    [dim]proof: {escape(finding.counterexample.proof)}[/]")
    elif finding.no_counterexample_reason:
        console.print(f"    [dim]no counterexample: {escape(finding.no_counterexample_reason)}[/]")
