"""`evtool demo`: schema check, traffic into the reference AI consumer, latency verdict."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evtool.cli.conventions import examples
from evtool.cli.live_view import snapshot_view
from evtool.cli.views import print_run_summary, render_report_text
from evtool.units import parse_duration, parse_rate

if TYPE_CHECKING:
    from evtool.formats.findings import CheckReport


def register(app: typer.Typer) -> None:
    app.command("demo", epilog=examples(
        "evtool demo", "evtool demo --overload", "evtool demo --flow --rate 100/s --duration 10s"
    ))(demo)


def demo(
    rate: Annotated[str, typer.Option("--rate", help="Events per second, e.g. 200/s.")] = "200/s",
    duration: Annotated[str, typer.Option("--duration", "-d", help="How long to send, e.g. 20s.")] = "20s",
    workers: Annotated[
        int,
        typer.Option(
            "--consumer-concurrency", min=1, max=256,
            help="Decisions the demo's consumer takes at once (its decision workers).",
        ),
    ] = 16,
    service_time: Annotated[
        str, typer.Option("--service-time", help="Time one decision takes, e.g. 50ms.")
    ] = "50ms",
    overload: Annotated[
        bool, typer.Option("--overload", help="Give the consumer half the capacity the rate needs.")
    ] = False,
    flow: Annotated[
        bool, typer.Option("--flow", help="Send the order-lifecycle flow instead of independent events.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated events.")] = 0,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Run directory (default runs/<UTC time>-<id>/).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view.")] = False,
    broker: Annotated[
        str | None,
        typer.Option("--broker", help=r"Tell the story over Kafka: kafka://HOST:PORT\[/TOPIC_PREFIX] "
                     "(topics are created and kept; the delivery audit reads them back)."),
    ] = None,
    semantics: Annotated[
        str, typer.Option("--semantics", help="With --broker: the consumer's delivery semantics, "
                          "exactly-once or at-least-once (what the audit expects).")
    ] = "exactly-once",
) -> None:
    """See what evtool is for in one command: exits with the latency verdict (0 pass, 1 missed)."""
    from evtool.demo import DemoHooks, DemoOptions, run_demo

    options = DemoOptions(
        rate=parse_rate(rate),
        duration_s=parse_duration(duration),
        consumer_workers=workers,
        service_time_s=parse_duration(service_time, option="--service-time"),
        overload=overload,
        flow=flow,
        seed=seed,
        run_dir=run_dir,
        broker=broker,
        semantics=semantics,
    )
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def stage(text: str) -> None:
        out.print(f"[bold cyan]▶[/] {escape(text)}")

    with snapshot_view(err, quiet=quiet) as on_snapshot:
        outcome = run_demo(
            options,
            DemoHooks(on_stage=stage, on_check=lambda r: _print_check(out, r), on_snapshot=on_snapshot),
        )
    print_run_summary(out, outcome.summary)
    out.print()
    render_report_text(outcome.report, out)
    if outcome.audit is not None:
        out.print()
        for line in outcome.audit.lines:
            out.print(escape(line))
    for url in outcome.topics:
        out.print(f"topic kept: {escape(url)}")
    out.print(f"\nHTML report: {escape(str(outcome.html_path))}")
    raise typer.Exit(outcome.exit_code)


def _print_check(console: Console, report: CheckReport) -> None:
    if report.ok:
        console.print(
            f"  [green]✓[/] {report.subjects_checked} subjects, {report.pairs_checked} compatibility checks: "
            "all compatible"
        )
        return
    console.print(f"  [red]✗ {len(report.findings)} incompatibilities[/] (see `evtool schema check`)")
