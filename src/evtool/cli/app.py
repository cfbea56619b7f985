"""The `evtool` command: option parsing and rendering only; the work happens in the core.

Every command module exposes `register(app)`. `run` is the one place that turns an
`EvtoolError` into a one-line message and its exit code, so no command prints a traceback
for bad input. As a safety net it does the same for the errors that user input raises where
no command caught them first (an OSError names its file; a UnicodeError or RecursionError is
malformed input): one line, exit 2. The specific checks in the core give better messages.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.main
from rich.console import Console
from rich.text import Text

from evtool import __version__
from evtool.cli import conventions
from evtool.cli.conventions import examples
from evtool.errors import EvtoolError, ExitCode


def _version(value: bool) -> None:
    if value:
        typer.echo(f"evtool {__version__}")
        raise typer.Exit(int(ExitCode.OK))


def build_app() -> typer.Typer:
    from evtool.cli import asyncapi, audit, consumer, demo, generate, report, run, schema, simulate

    app = typer.Typer(
        name="evtool",
        help="Event schema governance and simulation: compatibility gates, synthetic events, "
        "open-model load, end-to-end latency against a 2-second target.",
        no_args_is_help=True,
        add_completion=True,  # evtool --install-completion / --show-completion [SHELL]
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
        context_settings={"help_option_names": ["-h", "--help"]},
        epilog=examples(
            "evtool schema check --format sarif -o schema.sarif",
            "evtool generate --count 5",
            "evtool simulate --target http://127.0.0.1:8080/events --rate 100/s --duration 30s",
            "evtool latency-report runs/latest --slo 'p99<=2s'",
            "evtool demo",
        )
        + "\n\nEvery command has its own examples: [cyan]evtool COMMAND -h[/].",
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
    run.register(app)
    consumer.register(app)
    demo.register(app)
    report.register(app)
    audit.register(app)
    asyncapi.register(app)
    return app


def build_command() -> Any:
    """The click-level command of `build_app`, with the conventions every command follows
    (value names, deprecated spellings) applied."""
    command = typer.main.get_command(build_app())
    conventions.apply(command)
    return command


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (what `main` exits with)."""
    command = build_command()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        result = command.main(args=argv, prog_name="evtool", standalone_mode=False)
    except EvtoolError as exc:
        return _fail(err, exc.message, exc.hint, exc.exit_code)
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
    except RecursionError:
        return _fail(
            err,
            "input nested too deeply to process",
            "flatten the nesting of the schema or document given (a few dozen levels is plenty)",
        )
    except UnicodeError as exc:
        return _fail(err, f"input is not valid text: {exc}", "save the file as UTF-8")
    except OSError as exc:
        return _fail(err, _os_error_text(exc), "check the path, its permissions and free space")
    # Outside standalone mode a `typer.Exit(code)` comes back as the return value.
    return result if isinstance(result, int) else int(ExitCode.OK)


def _fail(err: Console, message: str, hint: str | None, code: ExitCode = ExitCode.USAGE) -> int:
    err.print(Text.assemble(("error: ", "bold red"), message))
    if hint:
        err.print(f"  hint: {hint}", markup=False)
    return int(code)


def _os_error_text(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    if exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    return f"{exc.filename}: {reason}"


def main() -> None:
    sys.exit(run())
