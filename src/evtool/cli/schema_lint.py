"""`evtool schema lint`: the governance rules (naming, docs, evolution, money, time, PII, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evtool import __version__
from evtool.cli.conventions import examples
from evtool.cli.views import write_atomically
from evtool.errors import ExitCode, UsageError


def register(schema_app: typer.Typer) -> None:
    schema_app.command("lint", epilog=examples(
        "evtool schema lint",
        "evtool schema lint --list-rules",
        "evtool schema lint --use BASIC --format sarif -o lint.sarif",
    ))(lint)


def lint(
    schemas: Annotated[
        Path | None, typer.Option("--schemas", metavar="DIR", help="Schema directory (default: evtool.toml).")
    ] = None,
    use: Annotated[
        str | None,
        typer.Option("--use", metavar="GROUP", help="Rule set: MINIMAL, BASIC or STANDARD ([lint] use)."),
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Lint every version, not only the latest of each subject.")
    ] = False,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="Print the rule catalogue and exit.")
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="text, json, junit, sarif or github.")
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the report to FILE.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="Config file (default: nearest evtool.toml)."),
    ] = None,
) -> None:
    """Check the catalogue against the lint rules; exit 1 on a finding that is not ignored with a reason."""
    from evtool.catalog import load_catalog
    from evtool.compat import ci_output
    from evtool.config import load_settings
    from evtool.lint import output as lint_output
    from evtool.lint.linter import lint_catalog
    from evtool.lint.model import Group
    from evtool.lint.rule import all_rules

    console = Console(highlight=False, soft_wrap=True)
    if list_rules:
        for rule in all_rules():
            console.print(f"[bold]{rule.code}[/] {rule.name} [dim]{rule.group.value}[/]")
            console.print(f"    {escape(rule.summary())}")
        return
    formats = ("text", "json", "junit", "sarif", "github")
    if output_format not in formats:
        raise UsageError(f"--format {output_format!r}: expected one of {', '.join(formats)}")
    group: Group | None = None
    if use is not None:
        try:
            group = Group(use.upper())
        except ValueError:
            raise UsageError(f"--use {use!r}: expected MINIMAL, BASIC or STANDARD") from None
    settings = load_settings(config)
    root = schemas or settings.schema_dir
    report = lint_catalog(load_catalog(root), settings, group=group, all_versions=all_versions, root=root)
    if output_format == "text":
        for finding in report.findings:
            where = str(finding.location.file)
            if finding.version:  # a version file: its line (1 when the pointer names no line)
                where += f":{finding.location.line or 1}"
            style = "dim" if finding.ignored_because else "red"
            console.print(
                f"[{style}]{finding.code}[/] {escape(finding.rule)} {escape(where)} "
                f"[dim]{escape(finding.violation.pointer or '/')}[/]"
            )
            console.print(f"    {escape(finding.violation.message)}")
            if finding.ignored_because:
                console.print(f"    [dim]ignored: {escape(finding.ignored_because)}[/]")
        standing = len(report.standing)
        ignored = len(report.findings) - standing
        console.print(
            f"\n{report.subjects_linted} subjects, {len(report.rules_applied)} rules: "
            + ("[green]clean[/]" if not standing else f"[red]{standing} finding(s)[/]")
            + (f", {ignored} ignored with a reason" if ignored else "")
        )
    else:
        text = {
            "json": lambda: lint_output.to_json(report),
            "junit": lambda: ci_output.to_junit(lint_output.as_check_report(report)),
            "sarif": lambda: lint_output.to_sarif(report, tool_version=__version__),
            "github": lambda: ci_output.to_github_commands(lint_output.as_check_report(report)),
        }[output_format]()
        if output is not None:
            write_atomically(output, text)
        else:
            typer.echo(text, nl=False)
    if report.standing:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))
