"""The `evtool` command: option parsing and rendering only; the work happens in the core.

Every command module exposes `register(app)`. `main` is the one place that turns an
`EvtoolError` into a one-line message and its exit code, so no command prints a traceback
for bad input.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.text import Text

from evtool import __version__
from evtool.errors import EvtoolError, ExitCode


def _version(value: bool) -> None:
    if value:
        typer.echo(f"evtool {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    from evtool.cli import consumer, demo, generate, report, schema, simulate

    app = typer.Typer(
        name="evtool",
        help="Event schema governance and simulation: compatibility gates, synthetic events, "
        "open-model load, end-to-end latency against a 2-second target.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        """evtool."""

    schema.register(app)
    generate.register(app)
    simulate.register(app)
    consumer.register(app)
    demo.register(app)
    report.register(app)
    return app


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (what `main` exits with)."""
    app = build_app()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = app(args=argv, prog_name="evtool", standalone_mode=False)
    except EvtoolError as exc:
        err.print(Text.assemble(("error: ", "bold red"), exc.message))
        if exc.hint:
            err.print(f"  hint: {exc.hint}", markup=False)
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted", markup=False)
        return int(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # usage errors found while parsing options
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        else:
            err.print(f"error: {exc}", markup=False)
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    # Outside standalone mode a `typer.Exit(code)` comes back as the return value.
    return result if isinstance(result, int) else int(ExitCode.OK)


def main() -> None:
    sys.exit(run())
