"""`evtool demo`: the whole story on one machine, with nothing else running.

Schemas checked, events sent at a rate into the reference AI consumer, its decisions
collected, and end-to-end latency judged against the 2-second target. The consumer runs in a
process of its own (as a real service would, and so it does not share the sender's core);
the collector runs inside the simulation. Every process and port the demo opens is closed
before it returns, also when it is interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from evtool import __version__
from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir, bundled_settings
from evtool.compat.check import check_catalog
from evtool.compat.findings import CheckReport
from evtool.consumer.service import ConsumerSettings, ReferenceConsumer
from evtool.errors import ExitCode, TargetError, UsageError
from evtool.load.dispatcher import DispatchOptions
from evtool.load.live import Snapshot
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.runner import CollectorSpec, RunSpec, RunSummary, run
from evtool.load.source import GeneratedEvents
from evtool.load.targets.base import TargetOptions
from evtool.results.render_html import render_html
from evtool.results.report import build_document, load_stats

LOOPBACK = "127.0.0.1"
TARGET_NS = 2_000_000_000
DEFAULT_MIX = "order=60,inventory=25,complaint=15"
_START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    rate: float = 200.0  # events per second
    duration_s: float = 20.0
    consumer_workers: int = 16  # the consumer's decision workers
    service_time_s: float = 0.05  # the time one decision takes
    overload: bool = False  # size the consumer at half the rate: its queue grows, the SLO breaks
    flow: bool = False  # the order-lifecycle flow instead of independent events
    seed: int = 0
    result_timeout_s: float = 5.0
    run_dir: Path | None = None

    @property
    def effective_consumer_workers(self) -> int:
        if self.overload:
            return max(1, int(self.rate * self.service_time_s / 2))
        return self.consumer_workers

    @property
    def capacity_per_s(self) -> float:
        return self.effective_consumer_workers / self.service_time_s


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    check: CheckReport
    summary: RunSummary
    report: dict[str, Any]  # the latency report document (what `latency-report --format json` prints)
    html_path: Path

    @property
    def exit_code(self) -> ExitCode:
        code = ExitCode(self.report["exit_code"])
        if code is not ExitCode.OK:
            return code
        return ExitCode.OK if self.check.ok else ExitCode.CHECK_FAILED


@dataclass(frozen=True, slots=True)
class DemoHooks:
    """Where the demo tells its caller what it is doing (the CLI renders these)."""

    on_stage: Callable[[str], None] = lambda _text: None
    on_check: Callable[[CheckReport], None] = lambda _report: None
    on_snapshot: Callable[[Snapshot], None] | None = None


def run_demo(options: DemoOptions, hooks: DemoHooks | None = None) -> DemoOutcome:
    hooks = hooks or DemoHooks()
    if options.rate <= 0 or options.duration_s <= 0:
        raise UsageError("--rate and --duration must be more than 0")
    if options.service_time_s <= 0:
        raise UsageError("--service-time must be more than 0")
    hooks.on_stage("checking the bundled schema catalogue")
    settings = bundled_settings()
    check = check_catalog(load_catalog(settings.schema_dir), settings)
    hooks.on_check(check)

    collector_port = free_loopback_port()
    consumer_settings = ConsumerSettings(
        workers=options.effective_consumer_workers,
        service_time_s=options.service_time_s,
        results_url=f"http://{LOOPBACK}:{collector_port}/results",
        seed=options.seed,
    )
    hooks.on_stage(
        f"starting the reference consumer: {consumer_settings.workers} workers x "
        f"{options.service_time_s * 1000:.0f} ms a decision = capacity {options.capacity_per_s:,.0f} events/s"
    )
    with consumer_process(consumer_settings) as consumer_url:
        hooks.on_stage(
            f"sending {options.rate:,.0f} events/s for {options.duration_s:g} s to {consumer_url}, "
            f"collecting results on {LOOPBACK}:{collector_port}"
        )
        summary = run(_run_spec(options, consumer_url, collector_port), on_snapshot=hooks.on_snapshot)
    hooks.on_stage("reporting end-to-end latency against 2 s")
    stats = load_stats([summary.run_dir], target_ns=TARGET_NS, window_ns=1_000_000_000)
    report = build_document(stats)  # the default objectives, spelled out in the report
    html_path = summary.run_dir / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    return DemoOutcome(check=check, summary=summary, report=report, html_path=html_path)


def _run_spec(options: DemoOptions, consumer_url: str, collector_port: int) -> RunSpec:
    events = GeneratedEvents(
        mix=None if options.flow else DEFAULT_MIX,
        flow="order-lifecycle" if options.flow else None,
        seed=options.seed,
        schemas=bundled_schema_dir(),
    )
    recorded = {
        "rate": options.rate,
        "duration_s": options.duration_s,
        "consumer_workers": options.effective_consumer_workers,
        "service_time_s": options.service_time_s,
        "overload": options.overload,
        "flow": options.flow,
        "seed": options.seed,
    }
    return RunSpec(
        plan=GeneratedPlan(
            arrival=ArrivalSpec(kind="constant", rate=options.rate, duration_s=options.duration_s),
            events=events,
        ),
        target=TargetOptions(target=consumer_url, mode="binary", user_agent=f"evtool/{__version__}"),
        dispatch=DispatchOptions(stamp_time=True),
        run_dir=options.run_dir,
        command=("evtool", "demo"),
        options=recorded,
        planned_duration_s=options.duration_s,
        collector=CollectorSpec(f"{LOOPBACK}:{collector_port}", result_timeout_s=options.result_timeout_s),
    )


def free_loopback_port() -> int:
    """A port free now; the collector binds it a moment later (the consumer must know it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def consumer_process(settings: ConsumerSettings) -> Iterator[str]:
    """The reference consumer in a child process; yields its URL, stops and reaps it on exit."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(
        target=_serve_consumer, args=(settings, child_end, stop), name="evtool-consumer", daemon=True
    )
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(_START_TIMEOUT_S):
            raise TargetError("the reference consumer did not start", hint="see its error output above")
        message = parent_end.recv()
        if isinstance(message, str):
            raise TargetError(f"the reference consumer could not start: {message}")
        host, port = message
        yield f"http://{host}:{port}/events"
    finally:
        stop.set()
        process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join(2.0)
        parent_end.close()


def _serve_consumer(settings: ConsumerSettings, report_to: Connection, stop: EventType) -> None:
    """Child process entry: serve until `stop` is set."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the demo ends

    async def serve() -> None:
        consumer = ReferenceConsumer(settings)
        try:
            address = await consumer.start(LOOPBACK, 0)
        except Exception as exc:  # reported to the parent, which owns the terminal
            report_to.send(str(exc))
            return
        report_to.send(address)
        try:
            while not stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()

    asyncio.run(serve())
