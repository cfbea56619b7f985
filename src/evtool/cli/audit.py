"""`evtool audit RUN_DIR`: delivery verified (loss, duplicates, per-key order) on the topic and results."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evtool.cli.conventions import examples
from evtool.errors import ExitCode, UsageError
from evtool.units import parse_duration_ns


class AuditFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


def register(app: typer.Typer) -> None:
    app.command("audit", epilog=examples(
        "evtool audit runs/2026-12-01T10-00-00Z-ab12",
        "evtool audit RUN_DIR --expect-delivery at-least-once --format json",
    ))(audit)


def audit(
    run_dir: Annotated[Path, typer.Argument(help="Run directory written by simulate or replay.")],
    expect_delivery: Annotated[
        str, typer.Option("--expect-delivery", help="exactly-once (no loss, no duplicate), at-least-once "
                          "(no loss) or at-most-once (no duplicate).")
    ] = "exactly-once",
    broker: Annotated[
        str | None, typer.Option("--broker", help="Read the topic from these brokers, HOST:PORT[,HOST:PORT] "
                                 "(default: the ones the run sent to).")
    ] = None,
    kafka_property: Annotated[
        list[str] | None, typer.Option("-X", help="A librdkafka connection property key=value (security).")
    ] = None,
    timeout: Annotated[
        str, typer.Option("--timeout", help="Give up reading the topic after this long.")
    ] = "2m",
    output_format: Annotated[AuditFormat, typer.Option("--format", help="Output format.")] = AuditFormat.TEXT,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Read back what the events topic and the results hold for a run and judge its delivery; writes
    audit.json into the run directory (latency-report shows it); exit 1 when the guarantee is not met."""
    from evtool.audit import Delivery, audit_run
    from evtool.load.targets.kafka import parse_property, resolve
    from evtool.results.delivery import delivery_html, delivery_lines, delivery_markdown, render_audit_json

    expect = Delivery.parse(expect_delivery)
    timeout_ns = parse_duration_ns(timeout, option="--timeout")
    if timeout_ns <= 0:
        raise UsageError("--timeout must be longer than 0")
    if broker is not None and not broker.strip():
        raise UsageError("--broker is empty", hint="e.g. --broker 127.0.0.1:9092")
    properties = resolve(dict(parse_property(text) for text in kafka_property or []))
    result = audit_run(run_dir, expect, servers=broker, properties=properties, timeout_s=timeout_ns / 1e9)
    result.write(run_dir)
    doc = {"delivery": {"audits": [result]}}
    if output_format is AuditFormat.TEXT:
        lines = delivery_lines(doc)
        if output is not None:
            output.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
            style = {"PASS": "green", "FAIL": "red"}.get(result.verdict, "magenta")
            console.print(f"[bold {style}]{escape(lines[0])}[/]")
            for line in lines[1:]:
                console.print(escape(line))
    else:
        if output_format is AuditFormat.JSON:
            text = render_audit_json(result)
        elif output_format is AuditFormat.MARKDOWN:
            text = "\n".join(delivery_markdown(doc)).lstrip() + "\n"
        else:
            text = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                    f"<title>evtool delivery audit</title></head><body>{delivery_html(doc)}</body></html>\n")
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if result.verdict != "PASS":
        raise typer.Exit(int(ExitCode.CHECK_FAILED))


__all__ = ["audit", "register"]
