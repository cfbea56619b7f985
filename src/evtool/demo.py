"""`evtool demo`: the whole story on one machine, with nothing else running.

Schemas checked, events sent at a rate into the reference AI consumer, its decisions
collected, and end-to-end latency judged against the 2-second target. The consumer runs in a
process of its own (as a real service would, and so it does not share the sender's core);
the collector runs inside the simulation. Every process and port the demo opens is closed
before it returns, also when it is interrupted.

With `broker` (`--broker kafka://HOST:PORT[/PREFIX]`) the same story goes over Kafka: an events
topic and a decisions topic are created, the Kafka reference consumer (exactly-once by default)
reads one and writes the other, the results are read from the decisions topic, and after the
latency verdict the delivery audit (`evtool audit`) reads the topics back. The topics are kept,
so the run can be replayed from its events topic (`evtool replay kafka://…`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from evtool import __version__
from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir, bundled_settings
from evtool.compat.check import check_catalog
from evtool.consumer.kafka import KafkaConsumerSettings, KafkaReferenceConsumer, Semantics
from evtool.consumer.service import ConsumerSettings, ReferenceConsumer
from evtool.errors import ExitCode, TargetError, UsageError
from evtool.formats.findings import CheckReport
from evtool.load.dispatcher import DispatchOptions
from evtool.load.live import Snapshot
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.runner import CollectorSpec, RunSpec, RunSummary, run
from evtool.load.source import GeneratedEvents
from evtool.load.targets.base import TargetOptions
from evtool.load.targets.kafka import KafkaOptions, parse_url
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
    broker: str | None = None  # kafka://HOST:PORT[/PREFIX]: the story over Kafka (topics PREFIX-…)
    semantics: str = "exactly-once"  # the Kafka consumer's, and what the delivery audit expects

    @property
    def effective_consumer_workers(self) -> int:
        if self.overload:
            return max(1, int(self.rate * self.service_time_s / 2))
        return self.consumer_workers

    @property
    def capacity_per_s(self) -> float:
        return self.effective_consumer_workers / self.service_time_s


@dataclass(frozen=True, slots=True)
class AuditOutcome:
    """The delivery audit's verdict (PASS, FAIL, INCOMPLETE; None: not audited) and its lines."""

    verdict: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    check: CheckReport
    summary: RunSummary
    report: dict[str, Any]  # the latency report document (what `latency-report --format json` prints)
    html_path: Path
    audit: AuditOutcome | None = None  # over Kafka only
    topics: tuple[str, ...] = ()  # over Kafka: the events and the decisions topic, as kafka:// URLs

    @property
    def exit_code(self) -> ExitCode:
        code = ExitCode(self.report["exit_code"])
        if code is not ExitCode.OK:
            return code
        if self.audit is not None and self.audit.verdict not in (None, "PASS"):
            return ExitCode.CHECK_FAILED
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
    if options.broker is not None:
        broker_address(options.broker)  # a bad --broker fails before anything runs
    hooks.on_stage("checking the bundled schema catalogue")
    settings = bundled_settings()
    check = check_catalog(load_catalog(settings.schema_dir), settings)
    hooks.on_check(check)
    if options.broker is not None:
        return _run_kafka_demo(options, hooks, check)

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


def _run_kafka_demo(options: DemoOptions, hooks: DemoHooks, check: CheckReport) -> DemoOutcome:
    assert options.broker is not None
    servers, prefix = broker_address(options.broker)
    if options.semantics not in [s.value for s in Semantics]:
        raise UsageError(f"--semantics {options.semantics!r}: expected one of "
                         f"{', '.join(s.value for s in Semantics)}")
    hooks.on_stage(f"creating the events and decisions topics on {servers}")
    events_topic, decisions_topic = create_topics(servers, prefix)
    events_url, decisions_url = f"kafka://{servers}/{events_topic}", f"kafka://{servers}/{decisions_topic}"
    consumer_settings = KafkaConsumerSettings(
        source=events_url, sink=decisions_url, workers=options.effective_consumer_workers,
        service_time_s=options.service_time_s, group=f"{events_topic}-consumer", seed=options.seed,
        semantics=Semantics(options.semantics),
    )
    hooks.on_stage(
        f"starting the Kafka reference consumer ({options.semantics}): {consumer_settings.workers} workers x "
        f"{options.service_time_s * 1000:.0f} ms a decision = capacity {options.capacity_per_s:,.0f} events/s"
    )
    with kafka_consumer_process(consumer_settings):
        hooks.on_stage(f"sending {options.rate:,.0f} events/s for {options.duration_s:g} s to {events_url}, "
                       f"reading the decisions from {decisions_url}")
        spec = _run_spec(options, events_url, 0)
        transport = KafkaOptions(properties=(("enable.idempotence", "true"),))  # no duplicate by a retry
        spec = replace(spec, target=replace(spec.target, transport=transport),
                       collector=CollectorSpec(decisions_url, result_timeout_s=options.result_timeout_s,
                                               transport=KafkaOptions()))
        summary = run(spec, on_snapshot=hooks.on_snapshot)
    hooks.on_stage(f"auditing delivery against {options.semantics}: reading the topics back")
    audit = delivery_audit(summary.run_dir, options.semantics, servers)
    hooks.on_stage("reporting end-to-end latency against 2 s")
    stats = load_stats([summary.run_dir], target_ns=TARGET_NS, window_ns=1_000_000_000)
    report = build_document(stats)
    html_path = summary.run_dir / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    return DemoOutcome(check=check, summary=summary, report=report, html_path=html_path, audit=audit,
                       topics=(events_url, decisions_url))


def broker_address(broker: str) -> tuple[str, str]:
    """(bootstrap servers, topic prefix) of `kafka://HOST:PORT[,HOST:PORT][/PREFIX]`."""
    if not broker.lower().startswith("kafka://"):
        raise UsageError(f"--broker {broker!r}: expected kafka://HOST:PORT", hint="e.g. kafka://127.0.0.1:9092")
    rest = broker.split("://", 1)[1]
    hosts, _, prefix = rest.partition("/")
    servers, _ = parse_url(f"kafka://{hosts}/x", option="--broker")
    prefix = prefix or "evtool-demo"
    parse_url(f"kafka://{servers}/{prefix}", option="--broker")  # a topic name can be made of it
    return servers, prefix


def create_topics(servers: str, prefix: str, partitions: int = 3) -> tuple[str, str]:
    """A fresh events and decisions topic (`PREFIX-<time>-<random>-events`/`-decisions`)."""
    import time

    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    stamp = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    names = (f"{prefix}-{stamp}-events", f"{prefix}-{stamp}-decisions")
    admin = AdminClient({"bootstrap.servers": servers, "socket.connection.setup.timeout.ms": 10_000})
    new = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
    futures = admin.create_topics(new, operation_timeout=15, request_timeout=20)
    for name, future in futures.items():
        try:
            future.result(timeout=30)
        except (KafkaException, TimeoutError) as exc:
            raise TargetError(f"Kafka {servers}: cannot create topic {name} ({exc})",
                              hint="is the broker up, and may this client create topics?") from None
    return names


def delivery_audit(run_dir: Path, expect: str, servers: str) -> AuditOutcome:
    """`evtool audit RUN_DIR --expect-delivery EXPECT` (writes audit.json, which reports show); a note
    instead when this build has no audit module."""
    try:
        audit_module = importlib.import_module("evtool.audit")
        delivery = importlib.import_module("evtool.results.delivery")
    except ImportError:
        return AuditOutcome(None, ("delivery audit skipped: this evtool has no `evtool audit` yet "
                                   "(no evtool.audit module)",))
    audit = audit_module.audit_run(run_dir, delivery.Delivery(expect), servers=servers)
    audit.write(run_dir)
    lines = [f"delivery {audit.verdict} against {expect}: {audit.events} events, "
             f"{audit.lost} lost, {audit.duplicated} duplicated", *audit.reasons, *audit.incomplete]
    return AuditOutcome(str(audit.verdict), tuple(str(line) for line in lines))


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


@contextlib.contextmanager
def kafka_consumer_process(settings: KafkaConsumerSettings) -> Iterator[list[int]]:
    """The Kafka reference consumer in a child process, yielded once its partitions are assigned (their
    numbers); on exit it stops (the decided events written and committed) and is reaped."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(target=_serve_kafka_consumer, args=(settings, child_end, stop),
                              name="evtool-kafka-consumer", daemon=True)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(_START_TIMEOUT_S + 30):
            raise TargetError("the Kafka reference consumer did not start", hint="see its error output above")
        message = parent_end.recv()
        if isinstance(message, str):
            raise TargetError(f"the Kafka reference consumer could not start: {message}")
        yield list(message)
    finally:
        stop.set()
        process.join(30.0)
        if process.is_alive():
            process.kill()
            process.join(2.0)
        parent_end.close()


def _serve_kafka_consumer(settings: KafkaConsumerSettings, report_to: Connection, stop: EventType) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the demo ends

    async def serve() -> None:
        consumer = KafkaReferenceConsumer(settings)
        try:
            await consumer.start()
        except Exception as exc:  # reported to the parent, which owns the terminal
            report_to.send(str(exc))
            return
        report_to.send(consumer.stats.partitions)
        try:
            while not stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()

    asyncio.run(serve())


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
