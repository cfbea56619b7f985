"""`evtool simulate` and `evtool replay`: open-model traffic to a target, with a live view.

Parsing and rendering only: the run itself is `evtool.load.runner.run`, which returns data
(snapshots while it runs, a summary at the end).
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec

import typer
from rich.console import Console

from evtool import __version__, units
from evtool.cli.conventions import examples
from evtool.cli.live_view import snapshot_view
from evtool.cli.views import print_run_summary
from evtool.errors import EvtoolError, ExitCode, UsageError

if TYPE_CHECKING:
    from evtool.load.live import LiveSpec, Snapshot
    from evtool.load.plan import ArrivalSpec
    from evtool.load.runner import CollectorSpec, PlanFactory, RunSpec, RunSummary
    from evtool.load.targets.base import Mode
    from evtool.results.slo import Slo

P = ParamSpec("P")

# The load stack (aiohttp, numpy, the generators) loads inside the commands, so other commands
# and `evtool --help` do not pay for it.

# -- options shared by simulate and replay -----------------------------------------------------

TargetOpt = Annotated[
    str,
    typer.Option(
        "--target", "-t",
        help="http(s)://… URL, kafka://HOST:PORT[,HOST:PORT]/TOPIC, file:PATH (JSONL) "
        "or - (stdout, dry run).",
    ),
]
ModeOpt = Annotated[
    str,
    typer.Option(
        "--content-mode", help="CloudEvents content mode: binary, structured, batch (HTTP only)."
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Events per request in batch mode.")]
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header", "-H", help="'Name: value' (repeatable); 'Name: env:VAR' reads a secret from VAR."
    ),
]
TimeoutOpt = Annotated[str, typer.Option("--timeout", help="Per-request timeout, e.g. 10s.")]
ClientOpt = Annotated[
    str,
    typer.Option(
        "--client",
        help="HTTP client: auto (lean for http://, aiohttp for https://), aiohttp, or lean (http:// only).",
    ),
]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Do not verify TLS certificates.")]
RetriesOpt = Annotated[int, typer.Option("--retries", help="Retries after a failure (honours Retry-After).")]
InFlightOpt = Annotated[
    int, typer.Option("--max-in-flight", help="Requests in flight at most; events beyond it are dropped.")
]
GraceOpt = Annotated[str, typer.Option("--grace", help="How long the end waits for requests in flight.")]
WorkersOpt = Annotated[
    int, typer.Option("--processes", help="Sender processes, each with its share of the rate.")
]
RunDirOpt = Annotated[
    Path | None, typer.Option("--run-dir", help="Run directory (default runs/<UTC time>-<id>/).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No live view; only the summary.")]
CollectOpt = Annotated[
    str | None,
    typer.Option("--collect", help="Collect downstream results during the run: HOST:PORT (HTTP collector) "
                 "or kafka://HOST:PORT/TOPIC (a results topic, read from its end)."),
]
RemoteCollectorOpt = Annotated[
    str | None,
    typer.Option("--remote-collector",
                 help="Results go to an `evtool collect` on another host at HOST:PORT (give its run "
                      "directory to latency-report too): its clock offset is measured before time zero "
                      "and at the end, recorded, and corrected for; a run whose offset is not known "
                      "closely enough is NOT MEASURABLE."),
]
CorrelateOpt = Annotated[
    str | None,
    typer.Option("--correlate-by", help="Field path the results carry to match events (default: event id)."),
]
ResultTimeoutOpt = Annotated[str, typer.Option("--result-timeout", help="How long to wait for late results.")]
KafkaPropertyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "-X", help="Kafka: a librdkafka property key=value (repeatable), e.g. -X linger.ms=20; "
        "overrides [kafka] in evtool.toml."
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Kafka: field path of the message key (default: the event's entity)."),
]
EncodingOpt = Annotated[
    str,
    typer.Option("--encoding", help="Kafka, binary mode: the value as json, avro (the data as Avro binary "
                 "under its subject version's schema; every subject sent needs an Avro schema) or protobuf "
                 "(the .proto's message)."),
]
RegistryWireOpt = Annotated[
    str | None,
    typer.Option("--registry", metavar="URL", help="Kafka: values in the Schema Registry wire format (magic "
                 "byte, schema id, then Avro or JSON), ids of this registry; every version sent must be "
                 "registered (evtool schema push). Default: [registry] url of evtool.toml; --registry off "
                 "sends plain values even when evtool.toml names one. Also decodes a kafka:// --collect "
                 "topic."),
]
SegmentOpt = Annotated[
    str | None,
    typer.Option("--segment", metavar="I/N|A:B",
                 help="Run segment I (0..N-1) of N of this scenario, or the part A:B of --segment-sequence "
                      "(e.g. 1/4:1/2): its interleaved share of one schedule; merge the run directories of "
                      "all parts with latency-report."),
]
SegmentSequenceOpt = Annotated[
    str | None,
    typer.Option("--segment-sequence", metavar="POINTS",
                 help="How the scenario is split: points from 0 to 1, e.g. 0,1/4,1/2,1 (parts of unequal "
                      "size); every instance gives the same. Default: equal parts for I/N, 0,A,B,1 for A:B."),
]
StartAtOpt = Annotated[
    str | None,
    typer.Option("--start-at", metavar="INSTANT",
                 help="Time zero at this instant (ISO 8601 with zone, or +30s), so segments start together."),
]
DurationOpt = Annotated[str | None, typer.Option("--duration", "-d", help="Run length, e.g. 30s, 2m.")]
SloOpt = Annotated[
    list[str] | None,
    typer.Option("--slo", help="Objective, repeatable, as for latency-report (p99<=2s, within(2s)>=99.5%, "
                 "lost<=0): the run's verdict becomes the exit code (1: missed or incomplete); its bound is "
                 "the live view's target."),
]
SummaryExportOpt = Annotated[
    Path | None,
    typer.Option("--summary-export", help="Write the run's verdict as JSON (the document of "
                 "`latency-report RUN --format json`), also when it fails."),
]
ScenarioOpt = Annotated[
    Path | None,
    typer.Option("--scenario", help="A scenario file (TOML): every option in one versioned file; "
                 "options given here override it. See `evtool run`."),
]
CountOpt = Annotated[int | None, typer.Option("--count", "-n", help="Number of events.")]
AbortOnFailOpt = Annotated[
    bool,
    typer.Option("--abort-on-fail", help="End the run as soon as an --slo objective can no longer be met "
                 "(it stops sending; the verdict is FAIL, with the objective and when)."),
]
MetricsOpt = Annotated[
    str | None,
    typer.Option("--metrics", help="Serve the run's counters and end-to-end histogram as Prometheus/"
                 "OpenMetrics text at HOST:PORT/metrics while it runs, e.g. 127.0.0.1:9464."),
]


def register(app: typer.Typer) -> None:
    app.command("simulate", epilog=examples(
        "evtool simulate --target http://127.0.0.1:8080/events --rate 100/s --duration 30s",
        "evtool simulate -t http://127.0.0.1:8080/events --stages 30s:50/s,2m:500/s "
        "--collect 127.0.0.1:9000",
        "evtool simulate -t kafka://127.0.0.1:9092/orders --rate 500/s -d 10s --content-mode structured",
        "evtool simulate -t - --count 3 --mix commerce.order.placed=1",
        "evtool simulate -t http://10.0.0.7:8080/events --rate 300/s -d 5m --segment 0/3 --start-at +60s "
        "--remote-collector 10.0.0.5:9000",
        "evtool simulate -t http://127.0.0.1:8080/events --rate 400/s -d 1m --seed 42 "
        "--segment 1/4:1/2 --segment-sequence 0,1/4,1/2,1 --start-at +30s",
    ))(_interruptible(simulate))
    app.command("replay", epilog=examples(
        "evtool replay events.jsonl --speed 10 --target http://127.0.0.1:8080/events",
        "evtool replay events.jsonl -t kafka://127.0.0.1:9092/orders --as-fast-as-possible",
        "evtool replay events.jsonl -t http://127.0.0.1:8080/events --rate 200/s "
        "--collect 127.0.0.1:9000",
    ))(_interruptible(replay))


def _interruptible(command: Callable[P, None]) -> Callable[P, None]:
    """Ctrl-C or SIGTERM before the run's own handlers are in place (loading schemas, parsing the log,
    connecting): exit 130 with a line saying so. (Typer would turn it into a silent exit 130.)"""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        previous = _interrupt_on_sigterm()
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            err = Console(stderr=True, highlight=False)
            err.print("interrupted before the run started: nothing was sent", markup=False)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper


def simulate(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="http(s)://… URL, kafka://HOST:PORT[,HOST:PORT]/TOPIC, file:PATH "
                     "(JSONL) or - (stdout, dry run); or [target] url of --scenario."),
    ] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", "-r", help="Arrival rate: 500/s, 30/m, 100/h.")
    ] = None,
    arrival: Annotated[str, typer.Option("--arrival", help="constant or poisson.")] = "constant",
    stages: Annotated[
        str | None, typer.Option("--stages", help="Linear ramps, e.g. 30s:50/s,2m:500/s,30s:0/s.")
    ] = None,
    duration: DurationOpt = None,
    count: CountOpt = None,
    mix: Annotated[
        str | None, typer.Option("--mix", help="Event types and weights, as for generate.")
    ] = None,
    flow: Annotated[str | None, typer.Option("--flow", help="Correlated flow, as for generate.")] = None,
    schema_versions: Annotated[
        str | None, typer.Option("--schema-versions", help="Schema versions to write, as for generate.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", min=0, help="Seed for events and poisson arrivals (default: a fresh seed, printed)."
        ),
    ] = None,
    schemas: Annotated[
        Path | None, typer.Option("--schemas", help="Schema directory (default: evtool.toml, else bundled).")
    ] = None,
    mode: ModeOpt = "binary",
    batch_size: BatchOpt = 100,
    header: HeaderOpt = None,
    timeout: TimeoutOpt = "10s",
    insecure: InsecureOpt = False,
    client: ClientOpt = "auto",
    retries: RetriesOpt = 0,
    max_in_flight: InFlightOpt = 10_000,
    grace: GraceOpt = "5s",
    workers: WorkersOpt = 1,
    run_dir: RunDirOpt = None,
    quiet: QuietOpt = False,
    collect: CollectOpt = None,
    remote_collector: RemoteCollectorOpt = None,
    correlate_by: CorrelateOpt = None,
    result_timeout: ResultTimeoutOpt = "10s",
    kafka_property: KafkaPropertyOpt = None,
    key: KeyOpt = None,
    encoding: EncodingOpt = "json",
    registry: RegistryWireOpt = None,
    as_fast_as_possible: Annotated[
        bool,
        typer.Option("--as-fast-as-possible",
                     help="No schedule: --count events, bounded only by --max-in-flight (throughput)."),
    ] = False,
    slo: SloOpt = None,
    summary_export: SummaryExportOpt = None,
    scenario: ScenarioOpt = None,
    abort_on_fail: AbortOnFailOpt = False,
    metrics: MetricsOpt = None,
    segment: SegmentOpt = None,
    segment_sequence: SegmentSequenceOpt = None,
    start_at: StartAtOpt = None,
) -> None:
    """Send generated events at a chosen rate (open model) and log every one of them."""
    if scenario is not None:  # the file's options under the command line's, then this command again
        values = _with_scenario(ctx, scenario)
        simulate(ctx, **values)
        return
    if target is None:
        raise UsageError("give --target (e.g. --target http://127.0.0.1:8080/events) "
                         "or a --scenario file with [target] url")
    from evtool.events.source import fresh_seed
    from evtool.load.plan import ArrivalSpec, GeneratedPlan
    from evtool.load.segment import segment_seed
    from evtool.load.source import GeneratedEvents

    _located(ctx, lambda: _check_segment(segment, segment_sequence, start_at),
             ("segment", "segment_sequence", "start_at"))

    if seed is None and segment is not None:  # every segment must draw the same scenario: derive it alike
        seed = segment_seed({"rate": rate, "arrival": arrival, "stages": stages, "duration": duration,
                             "count": count, "mix": mix, "flow": flow, "schema_versions": schema_versions,
                             "schemas": str(schemas) if schemas else None}, target)
    seed = fresh_seed() if seed is None else seed  # recorded in meta.json with the options
    if as_fast_as_possible:
        if rate is not None or stages is not None or duration is not None:
            raise UsageError("--as-fast-as-possible sends --count events with no schedule: "
                             "give no --rate, --stages or --duration")
        if count is None or count < 0:
            raise UsageError("--as-fast-as-possible needs --count N (every run must be bounded)")
        # the offsets are ignored (each event's intended time is when a slot is free)
        arrival_spec = ArrivalSpec("constant", rate=1e9, count=count, seed=seed)
    else:
        arrival_spec = _arrival(rate, arrival, stages, duration, count, seed)
    events = GeneratedEvents(mix=mix, flow=flow, schema_versions=schema_versions, seed=seed, schemas=schemas)
    _located(ctx, events.check, ("mix", "flow", "schema_versions", "schemas"))
    plan = GeneratedPlan(arrival_spec, events, correlate_by)
    options: dict[str, Any] = {
        "rate": rate,
        "arrival": arrival,
        "stages": stages,
        "duration": duration,
        "count": count,
        "mix": mix,
        "flow": flow,
        "schema_versions": schema_versions,
        "seed": seed,
        "schemas": str(schemas) if schemas else None,
        "as_fast_as_possible": as_fast_as_possible,
    }
    _execute(
        plan,
        options,
        planned_duration_s=None if as_fast_as_possible else arrival_spec.planned_duration_s,
        target=target,
        mode=mode,
        batch_size=batch_size,
        header=header,
        timeout=timeout,
        insecure=insecure,
        client=client,
        retries=retries,
        max_in_flight=max_in_flight,
        grace=grace,
        workers=workers,
        run_dir=run_dir,
        quiet=quiet,
        collect=collect,
        remote_collector=remote_collector,
        correlate_by=correlate_by,
        result_timeout=result_timeout,
        as_fast_as_possible=as_fast_as_possible,
        stamp_time=True,
        kafka_property=kafka_property,
        key=key,
        encoding=encoding,
        avro_schemas=lambda: _avro_schemas(events.stream(0).schemas),
        registry=registry,
        run_schemas=lambda: _catalogue_and_schemas(events.stream(0)),
        slo=slo,
        summary_export=summary_export,
        scenario=ctx.meta.get(_SCENARIO_META),
        live=_live_spec(slo, abort_on_fail),
        metrics=metrics,
        segment=segment,
        segment_sequence=segment_sequence,
        start_at=start_at,
    )


def _check_segment(segment: str | None, sequence: str | None, start_at: str | None) -> None:
    """Parse the segment options now, so a bad one (or one set in a scenario file) fails before anything."""
    from evtool.load.segment import Segment, SegmentSequence, parse_start_at

    if segment is not None:
        Segment.parse(segment, sequence)
    elif sequence is not None:  # without --segment the whole schedule runs (k6 alike): a reference run
        SegmentSequence.parse(sequence)
    if start_at is not None:
        parse_start_at(start_at)


def _catalogue_and_schemas(stream: Any) -> Any:
    return stream.catalog, stream.schemas


def _avro_schemas(schemas: Any) -> Any:
    from evtool.load.targets.kafka import avro_schemas

    return avro_schemas(schemas)


def _avro_schemas_of_log(file: Path) -> Any:
    from evtool.load.targets.kafka import avro_schemas_of_log

    return avro_schemas_of_log(file)


def _schemas_of_log(file: Path) -> Any:
    from evtool.load.targets.kafka import schemas_of_log

    return schemas_of_log(file, why="--registry")


def replay(
    file: Annotated[str, typer.Argument(help="Recorded event log: JSONL (structured CloudEvents) or Avro; "
                                        "or a topic, kafka://HOST:PORT/TOPIC (a range of it: --from/--to).")],
    target: TargetOpt = "",
    speed: Annotated[
        float, typer.Option("--speed", help="Compress the recorded gaps this many times.")
    ] = 1.0,
    rate: Annotated[
        str | None, typer.Option("--rate", "-r", help="Ignore the recorded gaps; send at this rate.")
    ] = None,
    as_fast_as_possible: Annotated[
        bool, typer.Option("--as-fast-as-possible", help="No gaps; bounded only by --max-in-flight.")
    ] = False,
    duration: DurationOpt = None,
    count: CountOpt = None,
    mode: ModeOpt = "binary",
    batch_size: BatchOpt = 100,
    header: HeaderOpt = None,
    timeout: TimeoutOpt = "10s",
    insecure: InsecureOpt = False,
    client: ClientOpt = "auto",
    retries: RetriesOpt = 0,
    max_in_flight: InFlightOpt = 10_000,
    grace: GraceOpt = "5s",
    workers: WorkersOpt = 1,
    run_dir: RunDirOpt = None,
    quiet: QuietOpt = False,
    collect: CollectOpt = None,
    remote_collector: RemoteCollectorOpt = None,
    correlate_by: CorrelateOpt = None,
    result_timeout: ResultTimeoutOpt = "10s",
    kafka_property: KafkaPropertyOpt = None,
    key: KeyOpt = None,
    encoding: EncodingOpt = "json",
    registry: RegistryWireOpt = None,
    skip_bad_lines: Annotated[
        bool,
        typer.Option("--skip-bad-lines", help="Skip (and count) lines that are not events; default: refuse."),
    ] = False,
    slo: SloOpt = None,
    summary_export: SummaryExportOpt = None,
    abort_on_fail: AbortOnFailOpt = False,
    metrics: MetricsOpt = None,
    from_time: Annotated[
        str | None, typer.Option("--from", help="Topic: the range's start time (RFC 3339).")
    ] = None,
    to_time: Annotated[str | None, typer.Option("--to", help="Topic: the range's end (exclusive).")] = None,
    from_offset: Annotated[
        str | None, typer.Option("--from-offset", help="Topic: first offsets, 100 or 0:100,1:250.")
    ] = None,
    to_offset: Annotated[
        str | None, typer.Option("--to-offset", help="Topic: end offsets (exclusive), as --from-offset.")
    ] = None,
    to_file: Annotated[
        Path | None, typer.Option("--to-file", help="Topic: write the range to this local log instead.")
    ] = None,
    segment: SegmentOpt = None,
    segment_sequence: SegmentSequenceOpt = None,
    start_at: StartAtOpt = None,
) -> None:
    """Re-send a recorded event log, keeping its gaps (or --speed, --rate, --as-fast-as-possible)."""
    from evtool.load.plan import ReplayPlan
    from evtool.load.topic_input import is_topic

    _check_segment(segment, segment_sequence, start_at)
    if speed <= 0:
        raise UsageError(f"--speed {speed:g}: must be more than 0")
    if sum([rate is not None, as_fast_as_possible, speed != 1.0]) > 1:
        raise UsageError("give only one of --speed, --rate and --as-fast-as-possible")
    topic_range = (from_time, to_time, from_offset, to_offset, to_file)
    if not is_topic(file) and any(given is not None for given in topic_range):
        raise UsageError("--from, --to, --from-offset, --to-offset and --to-file apply to a kafka:// topic")
    if not is_topic(file) and not Path(file).is_file():
        raise UsageError(f"{file}: no such file", hint="pass a log written by `evtool generate`")
    if not target and to_file is None:
        raise UsageError("give --target (a URL, kafka://HOST:PORT/TOPIC, file:PATH or -)")
    fixed_rate = units.parse_rate(rate) if rate is not None else None
    if fixed_rate is not None and fixed_rate <= 0:
        raise UsageError(f"--rate {rate}: must be more than 0")
    duration_s = _positive_duration(duration)
    if count is not None and count < 0:
        raise UsageError(f"--count {count}: must be 0 or more")
    plan: PlanFactory
    taken: int | None
    if is_topic(file):
        topic = _topic_plan(file, topic_range, kafka_property, speed=speed, rate=fixed_rate, count=count,
                            as_fast_as_possible=as_fast_as_possible, correlate_by=correlate_by,
                            duration_s=duration_s, skip_bad=skip_bad_lines)
        if topic is None:
            return  # --to-file: the range is on disk, nothing is sent
        plan, notes, planned, source = topic
        taken = count
    else:
        plan = ReplayPlan(
            path=Path(file),
            speed=speed,
            rate=fixed_rate,
            as_fast_as_possible=as_fast_as_possible,
            correlate_by=correlate_by,
            count=count,
            duration_s=duration_s,
            skip_bad_lines=skip_bad_lines,
        )
        checked = plan.check()  # the whole log, before time zero: a bad line fails now, with its line
        bad = checked.bad_lines
        skipped = f"{bad} bad lines of {file} skipped (--skip-bad-lines)" if bad else ""
        if not checked.events:
            raise UsageError(f"{file}: holds no events" + (f" ({skipped})" if skipped else ""),
                             hint="pass a log written by `evtool generate`")
        notes = (skipped,) if skipped else ()
        planned = duration_s
        if planned is None and fixed_rate is not None and count is not None:
            planned = count / fixed_rate
        source = {"file": str(file)}
        taken = checked.events if count is None else min(count, checked.events)
    if fixed_rate is not None:
        live = _live_spec(slo, abort_on_fail, rate_points=((0.0, fixed_rate),), planned_events=taken)
    else:
        schedule = "as fast as possible" if as_fast_as_possible else (
            "recorded gaps" + (f", {speed:g}x faster" if speed != 1.0 else ""))
        live = _live_spec(slo, abort_on_fail, schedule=schedule, planned_events=taken)
    options: dict[str, Any] = {
        **source,
        "speed": speed,
        "rate": rate,
        "as_fast_as_possible": as_fast_as_possible,
        "duration": duration,
        "count": count,
        "skip_bad_lines": skip_bad_lines,
    }
    _execute(
        plan,
        options,
        notes=notes,
        planned_duration_s=planned,
        target=target,
        mode=mode,
        batch_size=batch_size,
        header=header,
        timeout=timeout,
        insecure=insecure,
        client=client,
        retries=retries,
        max_in_flight=max_in_flight,
        grace=grace,
        workers=workers,
        run_dir=run_dir,
        quiet=quiet,
        collect=collect,
        remote_collector=remote_collector,
        correlate_by=correlate_by,
        result_timeout=result_timeout,
        as_fast_as_possible=as_fast_as_possible,
        kafka_property=kafka_property,
        key=key,
        encoding=encoding,
        avro_schemas=None if is_topic(file) else (lambda: _avro_schemas_of_log(Path(file))),
        registry=registry,
        run_schemas=None if is_topic(file) else (lambda: _schemas_of_log(Path(file))),
        slo=slo,
        summary_export=summary_export,
        live=live,
        metrics=metrics,
        segment=segment,
        segment_sequence=segment_sequence,
        start_at=start_at,
    )


def _topic_plan(url: str, given: tuple[str | None, str | None, str | None, str | None, Path | None],
                kafka_property: list[str] | None, *, speed: float, rate: float | None, count: int | None,
                as_fast_as_possible: bool, correlate_by: str | None, duration_s: float | None,
                skip_bad: bool) -> tuple[PlanFactory, tuple[str, ...], float | None, dict[str, Any]] | None:
    """`replay kafka://…`: the range resolved now (its end offsets fixed); with --to-file, written out."""
    from evtool.config import load_settings
    from evtool.load.sources.kafka import connection_properties
    from evtool.load.targets.kafka import KafkaOptions, resolve
    from evtool.load.topic_input import (
        RangeRequest,
        TopicReplayPlan,
        parse_offsets,
        parse_time,
        resolve_range,
    )
    from evtool.load.topic_input import snapshot as write_snapshot

    from_time, to_time, from_offset, to_offset, to_file = given
    if (from_time is not None and from_offset is not None) or (to_time is not None and to_offset is not None):
        raise UsageError("give a range's start as --from or --from-offset, its end as --to or --to-offset")
    request = RangeRequest(
        from_ms=parse_time(from_time, option="--from") if from_time is not None else None,
        to_ms=parse_time(to_time, option="--to") if to_time is not None else None,
        from_offsets=parse_offsets(from_offset, option="--from-offset") if from_offset is not None else None,
        to_offsets=parse_offsets(to_offset, option="--to-offset") if to_offset is not None else None,
    )
    kafka = KafkaOptions.of(load_settings().kafka, kafka_property or [], None)
    topic_range = resolve_range(url, request, resolve(connection_properties(kafka)), kafka.bootstrap)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    ends = ",".join(f"{p}:{o}" for p, o in topic_range.ends)
    err.print(f"{topic_range.topic}: {topic_range.records} records in range, ending at offsets {ends} "
              "(fixed now: records written later are not replayed)", markup=False)
    if to_file is not None:
        try:
            with to_file.open("wb") as out:
                written = write_snapshot(topic_range, out, count=count, skip_bad=skip_bad)
        except OSError as exc:
            raise UsageError(f"--to-file {to_file}: cannot write ({exc.strerror})") from None
        Console(highlight=False, soft_wrap=True).print(f"{written} events written to {to_file}", markup=False)
        return None
    if not topic_range.records:
        raise UsageError(f"{url}: no records in the range", hint="check --from/--to or the offsets")
    plan = TopicReplayPlan(topic_range, speed=speed, rate=rate, as_fast_as_possible=as_fast_as_possible,
                           correlate_by=correlate_by, count=count, duration_s=duration_s, skip_bad=skip_bad)
    planned = duration_s
    if planned is None and rate is not None:
        planned = (count if count is not None else topic_range.records) / rate
    return plan, (), planned, {"source": url, "range": topic_range.describe()}


# -- building the run --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Segmenting:
    plan: PlanFactory
    segment: str | None
    segment_sequence: str | None
    scenario_hash: str | None
    start_at_ns: int | None


def _segmented(plan: PlanFactory, segment: str | None, sequence: str | None, start_at: str | None,
               recorded: dict[str, Any], target: str) -> _Segmenting:
    """The plan of `--segment` (this instance's share of the sequence) and the shared `--start-at` zero."""
    from evtool.load.segment import Segment, SegmentedPlan, parse_start_at, scenario_hash

    start_at_ns = parse_start_at(start_at) if start_at is not None else None
    if segment is None:
        return _Segmenting(plan, None, None, scenario_hash(recorded, target), start_at_ns)
    parsed = Segment.parse(segment, sequence)
    return _Segmenting(SegmentedPlan(plan, parsed), str(parsed), str(parsed.sequence),
                       scenario_hash(recorded, target), start_at_ns)



def _arrival(
    rate: str | None,
    arrival: str,
    stages: str | None,
    duration: str | None,
    count: int | None,
    seed: int | None,
) -> ArrivalSpec:
    from evtool.load import arrivals
    from evtool.load.plan import ArrivalSpec

    duration_s = _positive_duration(duration)
    if count is not None and count < 0:
        raise UsageError(f"--count {count}: must be 0 or more")
    if arrival not in ("constant", "poisson"):
        raise UsageError(f"--arrival {arrival!r}: expected constant or poisson")
    if stages is not None:
        if rate is not None:
            raise UsageError("give --rate or --stages, not both")
        if arrival != "constant":
            raise UsageError("--stages ramps are deterministic; --arrival poisson applies to --rate only")
        return ArrivalSpec(
            "stages", stages=tuple(arrivals.parse_stages(stages)), duration_s=duration_s, count=count
        )
    if rate is None:
        raise UsageError("give --rate (e.g. 500/s) or --stages (e.g. 30s:50/s,2m:500/s)")
    value = units.parse_rate(rate)
    if value <= 0:
        raise UsageError(f"--rate {rate}: must be more than 0")
    if duration_s is None and count is None:
        raise UsageError("give --duration or --count (every run must be bounded)")
    if arrival == "poisson":
        return ArrivalSpec("poisson", rate=value, duration_s=duration_s, count=count, seed=seed)
    return ArrivalSpec("constant", rate=value, duration_s=duration_s, count=count, seed=seed)


def _live_spec(slo: list[str] | None, abort_on_fail: bool, **known: Any) -> LiveSpec:
    """What the live view, `--metrics` and `--abort-on-fail` judge by: the objectives and their target."""
    from evtool.load.live import LiveSpec, target_of
    from evtool.results.slo import parse_slo

    objectives = tuple(slo or ())
    for text in objectives:
        parse_slo(text)  # a bad one is one line naming it, before anything starts
    if abort_on_fail and not objectives:
        raise UsageError("--abort-on-fail ends the run when an --slo objective can no longer be met: "
                         "give one", hint="e.g. --slo 'p99<=2s' --abort-on-fail")
    return LiveSpec(target_ns=target_of(objectives), objectives=objectives, abort_on_fail=abort_on_fail,
                    **known)


def _positive_duration(duration: str | None) -> float | None:
    if duration is None:
        return None
    value = units.parse_duration(duration)
    if value <= 0:
        raise UsageError(f"--duration {duration}: must be more than 0", hint="e.g. --duration 30s")
    return value


def _interrupt_on_sigterm() -> Any:
    """SIGTERM before the run's own handlers are in place ends like Ctrl-C (exit 130, a message);
    returns the handler it replaced."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _collector(collect: str | None, correlate_by: str | None, result_timeout: str,
               kafka_property: list[str] | None = None, registry: str | None = None) -> CollectorSpec | None:
    from evtool.load.runner import CollectorSpec

    if collect is None:
        return None
    transport = None
    if collect.lower().startswith("kafka:"):  # its connection settings: [kafka] and -X, as for the target
        from evtool.config import load_settings
        from evtool.load.sources.kafka import wire_results
        from evtool.load.targets.kafka import KafkaOptions

        settings = load_settings()
        plain = KafkaOptions.of(settings.kafka, kafka_property or [], None)
        transport = wire_results(plain, registry, settings)
    return CollectorSpec(
        collect,
        correlate_by=correlate_by,
        result_timeout_s=units.parse_duration(result_timeout, option="--result-timeout"),
        transport=transport,
    )


def _remote_collector(address: str | None, collect: str | None) -> str | None:
    """`--remote-collector HOST:PORT`, checked; not with --collect (results go to one collector)."""
    if address is None:
        return None
    if collect is not None:
        raise UsageError("give --collect (collect here) or --remote-collector (an evtool collect elsewhere), "
                         "not both")
    from evtool.load.sources import http_host_port

    try:
        host, port = http_host_port(address)
    except UsageError as exc:  # its message names --collect, whose address form this is
        raise UsageError(exc.message.replace("--collect", "--remote-collector", 1), hint=exc.hint) from None
    if port == 0:
        raise UsageError(f"--remote-collector {address!r}: give the port the collector listens on",
                         hint="e.g. --remote-collector 10.0.0.5:9000")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _execute(
    plan: PlanFactory,
    options: dict[str, Any],
    *,
    planned_duration_s: float | None,
    target: str,
    mode: str,
    batch_size: int,
    header: list[str] | None,
    timeout: str,
    insecure: bool,
    client: str,
    retries: int,
    max_in_flight: int,
    grace: str,
    workers: int,
    run_dir: Path | None,
    quiet: bool,
    collect: str | None,
    correlate_by: str | None,
    result_timeout: str,
    as_fast_as_possible: bool,
    remote_collector: str | None = None,
    stamp_time: bool = False,
    kafka_property: list[str] | None = None,
    key: str | None = None,
    segment: str | None = None,
    segment_sequence: str | None = None,
    start_at: str | None = None,
    notes: tuple[str, ...] = (),
    encoding: str = "json",
    avro_schemas: Callable[[], Any] | None = None,
    registry: str | None = None,
    run_schemas: Callable[[], Any] | None = None,
    slo: list[str] | None = None,
    summary_export: Path | None = None,
    scenario: dict[str, Any] | None = None,
    live: LiveSpec | None = None,
    metrics: str | None = None,
) -> None:
    from evtool.load.dispatcher import DispatchOptions
    from evtool.load.live import LiveSpec
    from evtool.load.runner import RunSpec
    from evtool.load.targets.base import MODES, TargetOptions, parse_header, redact_argv, redact_url
    from evtool.results.summary import check_export_path, check_objectives

    if mode not in MODES:
        raise UsageError(f"--content-mode {mode!r}: expected one of {', '.join(MODES)}")
    checked_mode: Mode = next(m for m in MODES if m == mode)
    clients: tuple[Literal["auto", "aiohttp", "lean"], ...] = ("auto", "aiohttp", "lean")
    if client not in clients:
        raise UsageError(f"--client {client!r}: expected auto, aiohttp or lean")
    checked_client = next(c for c in clients if c == client)
    objectives = check_objectives(slo)  # before anything is sent: a bad --slo is exit 2 now
    if summary_export is not None:
        check_export_path(summary_export)
    headers = tuple(parse_header(h) for h in header or [])
    target_options = TargetOptions(
        target=target,
        mode=checked_mode,
        batch_size=batch_size if mode == "batch" else 1,
        headers=headers,
        timeout_s=units.parse_duration(timeout, option="--timeout"),
        insecure=insecure,
        client=checked_client,
        retries=retries,
        max_in_flight=max_in_flight,
        user_agent=f"evtool/{__version__}",
        transport=_transport_options(target, kafka_property, key, kafka_collect=_kafka_collect(collect),
                                     encoding=encoding, avro_schemas=avro_schemas,
                                     registry=registry, run_schemas=run_schemas),
    )
    dispatch = DispatchOptions(
        max_in_flight=max_in_flight,
        batch_size=target_options.batch_size,
        grace_s=units.parse_duration(grace, option="--grace"),
        as_fast_as_possible=as_fast_as_possible,
        stamp_time=stamp_time,
    )
    recorded = {
        **options,
        "target": redact_url(target),
        "mode": mode,
        "batch_size": target_options.batch_size,
        "headers": [h.redacted() for h in headers],
        "timeout": timeout,
        "insecure": insecure,
        "client": client,
        "retries": retries,
        "max_in_flight": max_in_flight,
        "grace": grace,
        "workers": workers,
        "collect": collect,
        "remote_collector": remote_collector,
        "correlate_by": correlate_by,
        "result_timeout": result_timeout if collect else None,
        "slo": slo,
        "summary_export": str(summary_export) if summary_export else None,
        "abort_on_fail": live.abort_on_fail if live else False,
        "metrics": metrics,
    }
    segment_spec = _segmented(plan, segment, segment_sequence, start_at, recorded, target)
    spec = RunSpec(
        plan=segment_spec.plan,
        segment=segment_spec.segment,
        segment_sequence=segment_spec.segment_sequence,
        scenario_hash=segment_spec.scenario_hash,
        start_at_ns=segment_spec.start_at_ns,
        target=target_options,
        dispatch=dispatch,
        workers=workers,
        run_dir=run_dir,
        command=tuple(redact_argv(["evtool", *sys.argv[1:]])),
        options=recorded,
        planned_duration_s=planned_duration_s,
        collector=_collector(collect, correlate_by, result_timeout, kafka_property, registry),
        remote_collector=_remote_collector(remote_collector, collect),
        notes=notes,
        scenario=scenario,
        live=live or LiveSpec(),
    )
    # the live view goes to stderr, so stdout stays clean for `--target -` and for the summary
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = err if target == "-" else Console(highlight=False, soft_wrap=True)
    summary = _run_with_view(spec, err, quiet or target == "-", metrics)
    print_run_summary(out, summary)
    if summary.aborted_by:
        out.print(f"FAIL (aborted by objective {summary.aborted_by})", markup=False)
    if options.get("seed") is not None:  # after the run, so a bad option stays a one-line error
        from evtool.cli.views import announce_seed

        announce_seed(options["seed"])
    if scenario is not None:
        overridden = ", ".join(scenario["overridden"]) or "nothing"
        out.print(f"scenario: {scenario['path']} sha256 {scenario['sha256'][:12]} "
                  f"(the command line overrode {overridden})", markup=False)
    gate = _verdict(summary.run_dir, objectives, slo, summary_export, out)
    if summary.interrupted:
        raise typer.Exit(int(ExitCode.INTERRUPTED))
    if summary.aborted_by:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))
    if gate is not ExitCode.OK:
        raise typer.Exit(int(gate))


def _verdict(run_dir: Path, objectives: list[Slo] | None, slo: list[str] | None,
             summary_export: Path | None, out: Console) -> ExitCode:
    """`--slo` / `--summary-export`: judge the run as latency-report would; the exit code when --slo gates."""
    if not slo and summary_export is None:
        return ExitCode.OK
    from evtool.results.report import fmt_slo_actual
    from evtool.results.summary import export_summary, run_document

    doc = run_document(run_dir, objectives)
    if summary_export is not None:
        export_summary(summary_export, doc)
    out.print(f"verdict: {doc['verdict_line']}", markup=False)
    for entry in doc["slos"]:
        mark = {True: "met", False: "MISSED", None: "no data"}[entry["passed"]]
        out.print(f"  {entry['slo']}: {mark} ({fmt_slo_actual(entry)})", markup=False)
    for reason in [*doc["incomplete"], *doc["not_measurable"]]:
        out.print(f"  {reason}", markup=False)
    if summary_export is not None:
        out.print(f"summary written to {summary_export}", markup=False)
    return ExitCode(doc["exit_code"]) if slo else ExitCode.OK


_SCENARIO_META = "evtool.scenario"  # ctx.meta key: the scenario record, for the run's meta


def _given(ctx: typer.Context) -> set[str]:
    """The parameters set on the command line (or by an environment variable), not left at their default."""
    explicit = ("COMMANDLINE", "ENVIRONMENT")  # click's ParameterSource, by name (typer vendors click)
    return {name for name in ctx.params
            if getattr(ctx.get_parameter_source(name), "name", None) in explicit}


def _with_scenario(ctx: typer.Context, path: Path) -> dict[str, Any]:
    """simulate's parameters with the scenario's under the command line's; records what won in ctx.meta."""
    from evtool.scenario import load_scenario, merge

    loaded = load_scenario(path)
    merged = merge(loaded, ctx.params, _given(ctx))
    ctx.meta[_SCENARIO_META] = merged.record.to_meta()
    ctx.meta[_SCENARIO_META + ".loaded"] = loaded
    return {**merged.values, "scenario": None}


def _located(ctx: typer.Context, check: Callable[[], None], options: tuple[str, ...]) -> None:
    """Run `check`; an error about an option the scenario file set says where in the file it was set."""
    from evtool.scenario import Scenario, ScenarioError

    try:
        check()
    except EvtoolError as exc:
        loaded = ctx.meta.get(_SCENARIO_META + ".loaded")
        sources = (ctx.meta.get(_SCENARIO_META) or {}).get("sources", {})
        if not isinstance(loaded, Scenario):
            raise
        from evtool.scenario.model import KEY_OF

        for option in options:
            if sources.get(".".join(KEY_OF[option])) == "scenario":
                raise ScenarioError(f"{loaded.where(option)}: {exc.message} — "
                                    f"{exc.hint or 'fix the value in the scenario file'}") from None
        raise


def _kafka_collect(collect: str | None) -> bool:
    return collect is not None and collect.lower().startswith("kafka:")


def _transport_options(target: str, kafka_property: list[str] | None, key: str | None, *,
                       kafka_collect: bool = False, encoding: str = "json",
                       avro_schemas: Callable[[], Any] | None = None, registry: str | None = None,
                       run_schemas: Callable[[], Any] | None = None) -> Any:
    """The target's own options: Kafka's from [kafka] in evtool.toml and -X/--key/--encoding; None
    otherwise (-X also applies to a kafka:// --collect)."""
    if not target.lower().startswith("kafka:"):
        if (kafka_property and not kafka_collect) or key is not None:
            raise UsageError("-X and --key apply to kafka:// targets (and -X to kafka:// --collect) only")
        if encoding != "json":
            raise UsageError(f"--encoding {encoding}: applies to kafka:// targets only")
        from evtool.registry.client import registry_disabled

        if registry is not None and not registry_disabled(registry) and not kafka_collect:
            raise UsageError("--registry applies to kafka:// targets and a kafka:// --collect only")
        return None
    from evtool.config import load_settings
    from evtool.load.targets.kafka import ENCODINGS, KafkaOptions

    if encoding not in ENCODINGS:
        raise UsageError(f"--encoding {encoding!r}: expected json, avro or protobuf")
    schemas = avro_schemas() if encoding == "avro" and avro_schemas is not None else ()
    options = KafkaOptions.of(load_settings().kafka, kafka_property or [], key, encoding=encoding,
                              avro_schemas=schemas)
    if encoding == "protobuf":
        options = _protobuf(options, run_schemas)
    return _wire_target(options, registry, run_schemas)


def _protobuf(options: Any, run_schemas: Callable[[], Any] | None) -> Any:
    import dataclasses

    from evtool.load.targets.kafka import protobuf_schemas

    if run_schemas is None:
        raise UsageError("--encoding protobuf: replaying a kafka:// topic is not supported",
                         hint="replay a log file, or --encoding json")
    return dataclasses.replace(options, proto_schemas=protobuf_schemas(run_schemas()[1]))


def _wire_target(options: Any, registry: str | None, run_schemas: Callable[[], Any] | None) -> Any:
    """`--registry` (or [registry] url): the schema id of every version the run writes, asked now."""
    import dataclasses

    from evtool.config import load_settings
    from evtool.load.targets.base import redact_url
    from evtool.registry.client import registry_client, registry_disabled
    from evtool.registry.wire import registered_ids

    settings = load_settings()
    if registry_disabled(registry) or (registry is None and not settings.registry.url):
        return options
    if run_schemas is None:
        raise UsageError("--registry: replaying a kafka:// topic in the wire format is not supported",
                         hint="replay a log file, or leave out --registry")
    catalog, schemas = run_schemas()
    with registry_client(registry, settings) as client:
        ids = registered_ids(schemas, catalog, settings, client, encoding=options.encoding)
        url = redact_url(client.url)
    return dataclasses.replace(options, registry=url, schema_ids=ids)


def _run_with_view(spec: RunSpec, console: Console, quiet: bool, metrics: str | None = None) -> RunSummary:
    """The run with its live view and, with `--metrics`, its scrape endpoint (both fed each snapshot)."""
    from evtool.load.metrics import MetricsServer
    from evtool.load.runner import run

    server = MetricsServer(metrics).start() if metrics else None
    try:
        if server is not None:
            console.print(f"metrics: {server.url}", markup=False)
        with snapshot_view(console, quiet=quiet) as view:
            sinks = [sink for sink in (view, server.update if server else None) if sink is not None]

            def on_snapshot(snapshot: Snapshot) -> None:
                for sink in sinks:
                    sink(snapshot)

            return run(spec, on_snapshot=on_snapshot if sinks else None)
    finally:
        if server is not None:
            server.close()


__all__ = ["register"]
