"""`evtool consumer serve`: the reference AI consumer as a stand-alone service."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from evtool.cli.conventions import examples
from evtool.errors import UsageError
from evtool.units import parse_duration

if TYPE_CHECKING:
    from evtool.consumer.kafka import KafkaConsumerSettings
    from evtool.consumer.service import ConsumerSettings

consumer_app = typer.Typer(
    help="The reference event-driven AI consumer.",
    no_args_is_help=True,
    epilog=examples("evtool consumer serve --port 8080 --concurrency 8"),
)


def register(app: typer.Typer) -> None:
    app.add_typer(consumer_app, name="consumer")


@consumer_app.command("serve", epilog=examples(
    "evtool consumer serve --port 8080 --concurrency 8 --results-to http://127.0.0.1:9000/results",
    "evtool consumer serve --source kafka://127.0.0.1:9092/orders --sink kafka://127.0.0.1:9092/decisions",
))
def serve(
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    results_to: Annotated[
        str | None, typer.Option("--results-to", help="URL to POST result events to (the collector).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--concurrency", min=1, help="Decisions taken at once (decision workers).")
    ] = 4,
    service_time: Annotated[
        str, typer.Option("--service-time", help="Mean time one decision takes, e.g. 50ms.")
    ] = "50ms",
    jitter: Annotated[
        float, typer.Option("--jitter", min=0.0, max=1.0, help="± share of service time.")
    ] = 0.2,
    queue_limit: Annotated[
        int, typer.Option("--queue-limit", min=1, help="Queue size before 503.")
    ] = 100_000,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Stop after this long (default: until Ctrl-C).")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Kafka mode: read events from kafka://HOST:PORT/TOPIC.")
    ] = None,
    sink: Annotated[
        str | None, typer.Option("--sink", help="Kafka mode: write decisions to kafka://HOST:PORT/TOPIC.")
    ] = None,
    group: Annotated[str, typer.Option("--group", help="Kafka mode: the consumer group.")] = "",
    kafka_property: Annotated[
        list[str] | None, typer.Option("-X", help="Kafka mode: a librdkafka connection property key=value.")
    ] = None,
    semantics: Annotated[
        str, typer.Option("--semantics", help="Kafka mode: at-least-once (commit after the decision is "
                          "acked), exactly-once (transactions) or at-most-once (auto-commit).")
    ] = "at-least-once",
    commit_interval: Annotated[
        str, typer.Option("--commit-interval", help="Kafka mode: commit offsets (a transaction) this often.")
    ] = "200ms",
    instance: Annotated[
        int, typer.Option("--instance", min=0, help="Kafka mode: this member's number in the group (its "
                          "static id and transactional.id); a restart with the same number resumes it.")
    ] = 0,
    crash_every: Annotated[
        int | None, typer.Option("--crash-every", min=1, help="Fault switch (Kafka mode): end abruptly after "
                                 "N decisions, produced but not committed, as a kill would.")
    ] = None,
) -> None:
    """Accept CloudEvents (binary, structured, batch), decide, and post a correlated result; with
    --source/--sink, read the events from a Kafka topic and write the decisions to another."""
    from evtool.consumer.service import ConsumerSettings

    if source is not None or sink is not None:
        _serve_kafka(source, sink, group, kafka_property, workers, service_time, jitter, duration,
                     KafkaModeOptions(semantics, commit_interval, instance, crash_every))
        return
    if crash_every is not None:
        raise UsageError("--crash-every applies to the Kafka mode (--source/--sink) only")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: not a port number", hint="use 0-65535 (0: any free port)")
    if results_to is not None and not results_to.startswith(("http://", "https://")):
        raise UsageError(f"--results-to {results_to!r}: expected an http:// or https:// URL")
    settings = ConsumerSettings(
        workers=workers,
        service_time_s=parse_duration(service_time, option="--service-time"),
        service_jitter=jitter,
        queue_limit=queue_limit,
        results_url=results_to,
    )
    limit_s = parse_duration(duration) if duration else None
    console = Console(stderr=True, highlight=False)
    asyncio.run(_serve(settings, host, port, limit_s, console))


async def _serve(
    settings: ConsumerSettings, host: str, port: int, limit_s: float | None, console: Console
) -> None:
    from evtool.consumer.service import ReferenceConsumer

    consumer = ReferenceConsumer(settings)
    bound_host, bound_port = await consumer.start(host, port)
    console.print(
        f"reference consumer on http://{bound_host}:{bound_port}/ — {settings.workers} workers, "
        f"{settings.service_time_s * 1000:.0f} ms a decision, capacity ≈ {settings.capacity_per_s:,.0f}/s",
        markup=False,
    )
    try:
        await _until_stopped(limit_s)
    finally:
        await consumer.stop()
    stats = consumer.stats
    console.print(
        f"received {stats.received}, decided {stats.decided}, results posted {stats.results_posted} "
        f"(failed {stats.results_failed}), rejected {stats.rejected}, invalid {stats.invalid}, "
        f"max queue {stats.max_queue}",
        markup=False,
    )


@dataclass(frozen=True, slots=True)
class KafkaModeOptions:
    semantics: str
    commit_interval: str
    instance: int
    crash_every: int | None


def _serve_kafka(source: str | None, sink: str | None, group: str, kafka_property: list[str] | None,
                 workers: int, service_time: str, jitter: float, duration: str | None,
                 mode: KafkaModeOptions) -> None:
    from evtool.config import load_settings
    from evtool.consumer.kafka import DEFAULT_GROUP, KafkaConsumerSettings, Semantics
    from evtool.load.sources.kafka import connection_properties
    from evtool.load.targets.kafka import KafkaOptions, parse_url, resolve

    if source is None or sink is None:
        raise UsageError("Kafka mode needs both --source kafka://HOST:PORT/TOPIC and --sink kafka://HOST:PORT/TOPIC")
    table = load_settings().kafka
    options = KafkaOptions.of(table, kafka_property or [], None)
    parse_url(source, options.bootstrap, option="--source")
    parse_url(sink, options.bootstrap, option="--sink")
    choices = [s.value for s in Semantics]
    if mode.semantics not in choices:
        raise UsageError(f"--semantics {mode.semantics!r}: expected one of {', '.join(choices)}")
    commit_interval_s = parse_duration(mode.commit_interval, option="--commit-interval")
    if commit_interval_s <= 0:
        raise UsageError(f"--commit-interval {mode.commit_interval}: must be more than 0")
    settings = KafkaConsumerSettings(
        source=source, sink=sink, workers=workers,
        service_time_s=parse_duration(service_time, option="--service-time"), service_jitter=jitter,
        group=group or DEFAULT_GROUP, properties=tuple(resolve(connection_properties(options)).items()),
        semantics=Semantics(mode.semantics), commit_interval_s=commit_interval_s, instance=mode.instance,
        crash_after=mode.crash_every,
    )
    limit_s = parse_duration(duration) if duration else None
    console = Console(stderr=True, highlight=False)
    asyncio.run(_serve_kafka_async(settings, limit_s, console))


async def _serve_kafka_async(settings: KafkaConsumerSettings, limit_s: float | None,
                             console: Console) -> None:
    from evtool.consumer.kafka import KafkaReferenceConsumer

    consumer = KafkaReferenceConsumer(settings)
    await consumer.start()
    console.print(
        f"reference consumer reading {settings.source} (group {settings.group}, partitions "
        f"{','.join(map(str, consumer.stats.partitions))}), writing to {settings.sink} — "
        f"{settings.workers} workers, {settings.service_time_s * 1000:.0f} ms a decision, "
        f"capacity ≈ {settings.capacity_per_s:,.0f}/s, {settings.semantics.value}",
        markup=False,
    )
    try:
        await _until_stopped(limit_s)
    finally:
        await consumer.stop()
    stats = consumer.stats
    console.print(
        f"received {stats.received}, decided {stats.decided}, results written {stats.results_posted} "
        f"(failed {stats.results_failed}), commits {stats.commits}"
        + (f", transactions aborted {stats.aborted}" if stats.aborted else ""),
        markup=False,
    )
    for line in consumer.problem_lines():
        console.print(line, markup=False)


async def _until_stopped(limit_s: float | None) -> None:
    """Until Ctrl-C / SIGTERM, or `limit_s` (`--duration`) when given."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=limit_s)
