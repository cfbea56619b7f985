"""`evtool latency-report` (the verdict CI gates on) and `evtool collect` (a standalone collector)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evtool import __version__
from evtool.errors import UsageError
from evtool.load.collector import DEFAULT_CORRELATE_BY, Collector, CorrelateBy
from evtool.results.clock import RunClock
from evtool.results.render_html import render_html
from evtool.results.render_markdown import render_markdown, sparkline
from evtool.results.report import build_document, fmt_ms, fmt_slo_actual, load_stats, render_json
from evtool.results.runlog import RunMeta
from evtool.results.slo import parse_duration_ns, parse_slos
from evtool.results.stats import PERCENTILE_NAMES


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


def register(app: typer.Typer) -> None:
    app.command("latency-report")(latency_report)
    app.command("collect")(collect)


_VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "NOT_MEASURABLE": "bold yellow"}
_LABELS = {"end_to_end": "end-to-end", "ack": "ack", "service": "service time",
           "scheduling_lag": "scheduling lag"}


def render_text(doc: dict[str, Any], console: Console) -> None:
    """The terminal view: verdict, objectives, a percentile table, counts and sparklines."""
    counts = doc["counts"]
    verdict = doc["verdict"]
    console.print(f"[{_VERDICT_STYLE[verdict]}]{verdict.replace('_', ' ')}[/]  target "
                  f"{fmt_ms(doc['target_ms'])} · {counts['scheduled']} events · "
                  f"{len(doc['runs'])} run dir(s)")
    if doc["end_to_end_source"] == "ack":
        console.print("[yellow]no collector: end-to-end latency is acknowledgement latency[/]")
    for reason in doc["not_measurable"]:
        console.print(f"[yellow]not measurable:[/] {escape(reason)}")
    slos = Table(box=None, show_header=True, header_style="bold")
    slos.add_column("objective")
    slos.add_column("actual", justify="right")
    slos.add_column("")
    for s in doc["slos"]:
        mark = "[dim]–[/]" if s["passed"] is None else ("[green]pass[/]" if s["passed"] else "[red]FAIL[/]")
        slos.add_row(escape(s["slo"]), fmt_slo_actual(s), mark)
    console.print(slos)
    table = Table(show_header=True, header_style="bold", title="latency")
    table.add_column("", no_wrap=True)
    table.add_column("count", justify="right")
    for name in PERCENTILE_NAMES:
        table.add_column(name, justify="right")
    for key, label in _LABELS.items():
        d = doc["latency_ms"][key]
        table.add_row(label, str(d["count"]), *[fmt_ms(d[p]) for p in PERCENTILE_NAMES])
    console.print(table)
    share = doc["within_target_share"]
    console.print(
        f"ok {counts['ok']} · failed {counts['failed']} · dropped {counts['dropped']} · aborted "
        f"{counts.get('aborted', 0)} · lost {counts['lost']}"
        f" · within {fmt_ms(doc['target_ms'])}: {f'{share:.3%}' if share is not None else '–'}"
        f" · results {counts['results']} (unmatched {counts['unmatched_results']}, duplicate "
        f"{counts['duplicate_results']}, uncorrelated {counts['uncorrelated_results']})"
    )
    if doc["distribution"]:
        bins = doc["distribution"]
        console.print(f"distribution {fmt_ms(bins[0]['from_ms'])} "
                      f"[blue]{sparkline([float(b['count']) for b in bins])}[/] {fmt_ms(bins[-1]['to_ms'])}")
    if len(doc["windows"]) > 1:
        p99 = [w["latency_ms"]["p99"] or 0.0 for w in doc["windows"]]
        console.print(f"p99 over time ({doc['window_s']:g}s) [magenta]{sparkline(p99)}[/] "
                      f"max {fmt_ms(max(p99))}")
    if len(doc["by_type"]) > 1:
        per = Table(show_header=True, header_style="bold", title="per event type")
        for column in ("type", "v", "events", "failed", "dropped", "aborted", "lost", "p50", "p99", "max"):
            per.add_column(column, justify="left" if column == "type" else "right")
        for g in doc["by_type"]:
            c, lat = g["counts"], g["latency_ms"]
            per.add_row(escape(g["type"]), str(g["schema_version"]), str(c["scheduled"]), str(c["failed"]),
                        str(c["dropped"]), str(c.get("aborted", 0)), str(c["lost"]), fmt_ms(lat["p50"]),
                        fmt_ms(lat["p99"]),
                        fmt_ms(lat["max"]))
        console.print(per)
    if doc["baseline"]:
        base = Table(show_header=True, header_style="bold", title="against baseline")
        for column in ("", "baseline", "now", "change"):
            base.add_column(column, justify="right")
        for name, d in doc["baseline"]["percentiles"].items():
            change = "–" if d["delta_ms"] is None else f"{d['delta_ms']:+.1f} ms"
            style = "red" if (d["delta_ms"] or 0) > 0 else "green"
            base.add_row(name, fmt_ms(d["baseline_ms"]), fmt_ms(d["current_ms"]), f"[{style}]{change}[/]")
        console.print(base)
    for note in doc["notes"]:
        console.print(f"[dim]note: {escape(note)}[/]")


def latency_report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories (several: shards of one test).")],
    slo: Annotated[
        list[str] | None,
        typer.Option("--slo", help="Objective, repeatable (default p99<=2s and lost<=0); e.g. p95<=500ms, "
                     "within(2s)>=99.5%, lost<=0.1%, failed<=1%."),
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
    """End-to-end latency of one or more runs against the target; exit 1 when an objective is missed."""
    slos = parse_slos(slo)
    target_ns = parse_duration_ns(target)
    window_ns = parse_duration_ns(window)
    if window_ns <= 0 or target_ns <= 0:
        raise UsageError("--target and --window must be longer than 0")
    timeout_ns = parse_duration_ns(result_timeout) if result_timeout else None
    stats = load_stats(run_dirs, target_ns=target_ns, window_ns=window_ns, result_timeout_ns=timeout_ns)
    base = (load_stats(baseline, target_ns=target_ns, window_ns=window_ns, result_timeout_ns=timeout_ns)
            if baseline else None)
    doc = build_document(stats, slos, baseline=base, baseline_dirs=[str(b) for b in baseline or []])
    if output_format is ReportFormat.TEXT:
        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                render_text(doc, Console(file=handle, width=120, no_color=True))
        else:
            render_text(doc, Console(highlight=False, width=None if sys.stdout.isatty() else 120))
    else:
        renderer = {ReportFormat.JSON: render_json, ReportFormat.MARKDOWN: render_markdown,
                    ReportFormat.HTML: render_html}[output_format]
        text = renderer(doc)
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if doc["exit_code"]:
        raise typer.Exit(doc["exit_code"])


def _parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"bad --listen {listen!r}", hint="use HOST:PORT, e.g. 127.0.0.1:9000 (port 0: any)")
    return host.strip("[]"), int(port)


async def _collect(collector: Collector, duration_s: float | None, console: Console) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with collector:
        console.print(f"collecting on http://{collector.address}/ into {collector.run_dir} "
                      f"({'for ' + str(duration_s) + ' s' if duration_s else 'until Ctrl-C'})")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration_s)


def collect(
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Directory for the results log (created).")],
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to listen on.")] = "127.0.0.1:9000",
    correlate_by: Annotated[
        str, typer.Option("--correlate-by", help="CloudEvents attributes / field paths, tried in order.")
    ] = DEFAULT_CORRELATE_BY,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Stop after this long (default: until Ctrl-C).")
    ] = None,
) -> None:
    """Receive downstream results (for producers evtool does not drive); report them with latency-report."""
    host, port = _parse_listen(listen)
    duration_s = parse_duration_ns(duration) / 1e9 if duration else None
    by = CorrelateBy.parse(correlate_by)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run-dir {run_dir}: exists and is not a directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    clock = RunClock()
    meta = RunMeta(
        run_id=uuid.uuid4().hex, command=["evtool", *sys.argv[1:]],
        options={"listen": listen, "correlate_by": str(by), "duration": duration},
        tool_version=__version__, target="collect-only", clock_origin_ns=clock.wall_origin_ns,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), collector=listen,
        correlate_by=str(by),
    )
    meta.write(run_dir)
    console = Console(stderr=True, highlight=False)
    collector = Collector(host, port, run_dir, by, clock)
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
    meta.write(run_dir)
    console.print(f"{counts.results} results recorded, {counts.uncorrelated} without correlation value, "
                  f"{counts.unreadable} unreadable ({counts.requests} requests)")


__all__ = ["collect", "latency_report", "register", "render_text"]
