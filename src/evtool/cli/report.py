"""`evtool latency-report` (the verdict CI gates on) and `evtool collect` (a standalone collector)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from evtool import __version__
from evtool.cli.conventions import examples
from evtool.cli.views import render_report_text, write_atomically, write_text_view
from evtool.errors import ExitCode, InputError, UsageError
from evtool.units import parse_duration_ns

if TYPE_CHECKING:
    from evtool.load.collector import Collector
    from evtool.load.sources.kafka import KafkaResultSource

# The core modules below (numpy, hdrh, aiohttp) load inside each command, so `evtool --help`
# and the other commands do not pay for them.


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


def register(app: typer.Typer) -> None:
    app.command("latency-report", epilog=examples(
        "evtool latency-report runs/checkout-100rps",
        "evtool latency-report runs/checkout-100rps --slo 'p99<=2s' --slo 'within(500ms)>=99%'",
        "evtool latency-report runs/new --baseline runs/old --format html -o report.html",
    ))(latency_report)
    app.command("collect", epilog=examples(
        "evtool collect --run-dir runs/mine --listen 127.0.0.1:9000 --duration 5m",
        "evtool collect --run-dir runs/mine --source kafka://127.0.0.1:9092/results",
        "evtool collect --run-dir runs/results --listen 0.0.0.0:9000",
    ))(collect)


def latency_report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (several: shards of one test).")],
    slo: Annotated[
        list[str] | None,
        typer.Option("--slo", help="Objective, repeatable (default: every event's result within the target, "
                     "i.e. within(2s)>=100%, with p99<=2s and lost<=0); e.g. p95<=500ms, within(2s)>=99.5%, "
                     "lost<=0.1%, failed<=1%."),
    ] = None,
    target: Annotated[str, typer.Option("--target", help="Latency target, e.g. 2s or 500ms.")] = "2s",
    baseline: Annotated[
        list[Path] | None, typer.Option("--baseline", help="Earlier run dir(s) to compare with.")
    ] = None,
    window: Annotated[str, typer.Option("--window", help="Time window for 'over time'.")] = "5s",
    result_timeout: Annotated[
        str | None,
        typer.Option("--result-timeout", help="Override the run's result timeout (no result by then: lost)."),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="Output format.")
    ] = ReportFormat.TEXT,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """End-to-end latency of one or more runs against the target; exit 1 when an objective is missed
    or the run is incomplete (it never ended cleanly, or its log is damaged)."""
    from evtool.results.render_html import render_html
    from evtool.results.render_markdown import render_markdown
    from evtool.results.report import build_document, load_stats, render_json
    from evtool.results.slo import parse_slos

    target_ns = parse_duration_ns(target, option="--target")
    window_ns = parse_duration_ns(window, option="--window")
    if window_ns <= 0 or target_ns <= 0:
        raise UsageError("--target and --window must be longer than 0")
    slos = parse_slos(slo, target_ns) if slo else None  # None: the default objectives, spelled out
    timeout_ns = parse_duration_ns(result_timeout, option="--result-timeout") if result_timeout else None
    stats = load_stats(run_dirs, target_ns=target_ns, window_ns=window_ns, result_timeout_ns=timeout_ns)
    base = (load_stats(baseline, target_ns=target_ns, window_ns=window_ns, result_timeout_ns=timeout_ns)
            if baseline else None)
    doc = build_document(stats, slos, baseline=base, baseline_dirs=[str(b) for b in baseline or []])
    if output_format is ReportFormat.TEXT:
        if output is not None:
            write_text_view(output, lambda c: render_report_text(doc, c), width=120)
        else:
            # outside a terminal: the width is $COLUMNS (else 80), and lines are never broken inside
            render_report_text(doc, Console(highlight=False, soft_wrap=not sys.stdout.isatty()))
    else:
        renderer = {ReportFormat.JSON: render_json, ReportFormat.MARKDOWN: render_markdown,
                    ReportFormat.HTML: render_html}[output_format]
        text = renderer(doc)
        if output is not None:
            write_atomically(output, text)
        else:
            sys.stdout.write(text)
    code = ExitCode(doc["exit_code"])
    if code is not ExitCode.OK:
        raise typer.Exit(code)


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"bad --listen {listen!r}", hint="use HOST:PORT, e.g. 127.0.0.1:9000 (port 0: any)")
    return host.strip("[]"), int(port)


async def _collect(collector: Collector | KafkaResultSource, duration_s: float | None,
                   console: Console) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with collector:
        where = (f"on http://{collector.address}/" if not hasattr(collector, "topic")
                 else f"from {collector.description}")
        console.print(f"collecting {where} into {collector.run_dir} "
                      f"({'for ' + str(duration_s) + ' s' if duration_s else 'until Ctrl-C'})")
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(collector.wait_failed())}
        await asyncio.wait(waits, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()


def collect(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Directory for the results log (created).")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on.")] = "127.0.0.1:9000",
    correlate_by: Annotated[
        str | None,
        typer.Option(
            "--correlate-by",
            help="CloudEvents attributes / field paths, tried in order (default: correlationid,causationid).",
        ),
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Stop after this long (default: until Ctrl-C).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Read results from a Kafka topic, kafka://HOST:PORT/TOPIC, instead of "
                     "listening (from its end: results already there are not counted)."),
    ] = None,
    kafka_property: Annotated[
        list[str] | None,
        typer.Option("-X", help="With --source kafka://: a librdkafka connection property key=value."),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option("--registry", metavar="URL", help="With --source kafka://: results in the Schema "
                     "Registry wire format (default: [registry] url of evtool.toml)."),
    ] = None,
) -> None:
    """Receive downstream results (for producers evtool does not drive, or senders on other hosts with
    --remote-collector, which measure their clock offset against it); report them with latency-report."""
    from evtool.load.collector import Collector, CorrelateBy, test_hooks
    from evtool.load.sources.base import check_run_dir
    from evtool.results.clock import RunClock
    from evtool.results.runlog import RunMeta

    if source is not None or kafka_property or registry:
        if source is None or not source.lower().startswith("kafka:"):
            raise UsageError(f"--source {source!r}: expected kafka://HOST:PORT/TOPIC" if source is not None
                             else "-X and --registry apply with --source kafka://… only")
        host, port = "", 0
    else:
        host, port = _parse_listen(listen)
    duration_s = parse_duration_ns(duration) / 1e9 if duration else None
    by = CorrelateBy.parse(correlate_by)
    check_run_dir(run_dir)  # one line (exit 2) for a read-only or unwritable place, before listening
    skew_ns, reply_delay_s, hook_notes = test_hooks(os.environ)
    clock = RunClock(wall_origin_ns=time.time_ns() + skew_ns) if skew_ns else RunClock()
    meta = RunMeta(
        run_id=uuid.uuid4().hex, command=["evtool", *sys.argv[1:]],
        options={"listen": None if source else listen, "source": source, "correlate_by": str(by),
                 "duration": duration},
        tool_version=__version__, target="collect-only", clock_origin_ns=clock.wall_origin_ns,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), collector=source or listen,
        correlate_by=str(by), notes=hook_notes,
    )
    try:  # before listening: a run dir that cannot be written is bad input, not a crash mid-run
        run_dir.mkdir(parents=True, exist_ok=True)
        meta.write(run_dir)
    except OSError as exc:
        raise InputError(f"--run-dir {run_dir}: cannot write the run there: {exc.strerror or exc}; "
                         "choose a writable directory") from None
    console = Console(stderr=True, highlight=False)
    collector: Collector | KafkaResultSource
    if source is not None:
        from evtool.config import load_settings
        from evtool.load.sources.base import CollectorSpec
        from evtool.load.sources.kafka import KafkaResultSource, wire_results
        from evtool.load.targets.kafka import KafkaOptions

        settings = load_settings()
        plain = KafkaOptions.of(settings.kafka, kafka_property or [], None)
        options = wire_results(plain, registry, settings)
        collector = KafkaResultSource(CollectorSpec(source, correlate_by, transport=options), run_dir, clock)
    else:
        collector = Collector(host, port, run_dir, by, clock, clock_reply_delay_s=reply_delay_s)
    interrupted = False
    try:
        asyncio.run(_collect(collector, duration_s, console))
    except KeyboardInterrupt:
        interrupted = True
    counts = collector.counts
    meta.ended_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta.interrupted = interrupted
    if counts.uncorrelated or counts.unreadable:
        meta.notes.append(f"{counts.uncorrelated} results had no correlation value ({by}); "
                          f"{counts.unreadable} bodies were unreadable")
    meta.notes.extend(f"collector {line}" for line in collector.problem_lines())
    if collector.write_error:
        meta.incomplete.append(collector.write_error)
    try:
        meta.write(run_dir)
    except OSError as exc:  # the run keeps no clean end: a report on it says INCOMPLETE
        if not collector.write_error:  # (a full disk is reported below, as the write error it is)
            raise InputError(f"--run-dir {run_dir}: cannot record the end of the run: "
                             f"{exc.strerror or exc}") from None
    console.print(f"{counts.results} results recorded, {counts.uncorrelated} without correlation value, "
                  f"{counts.unreadable} unreadable ({counts.requests} requests)", markup=False)
    for line in collector.problem_lines():
        console.print(line, markup=False)
    if collector.write_error:
        raise InputError(f"{collector.write_error}: stopped collecting",
                         hint="free space on that filesystem or choose another --run-dir")


__all__ = ["collect", "latency_report", "register"]
