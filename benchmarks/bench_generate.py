"""Events per second, one core, for `evtool generate` written as JSONL to a null sink.

Cases: each bundled type alone (domain generators), the schema-driven generator on the same
schemas, the default mix, and the order-lifecycle flow — each with and without per-event
validation. Baseline measured in the same run: json.dumps of the same events (the stdlib way).
Prints medians of several runs.

    /work/venv/bin/python benchmarks/bench_generate.py [--events 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterable
from typing import IO, Any, cast

from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir
from evtool.events import CloudEvent, EventStream, GenerateOptions, parse_flow, parse_mix, write_jsonl


class NullSink:
    """A binary file that forgets what it is given (measures generation + encoding only)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)


def _rate(stream: EventStream, events: int) -> float:
    iter(stream)  # setup (pools, compilation) happens in EventStream(); not timed
    sink = NullSink()
    started = time.perf_counter()
    written = write_jsonl(stream, cast("IO[bytes]", sink))
    elapsed = time.perf_counter() - started
    assert written == events
    return events / elapsed


def _stdlib_rate(events: Iterable[CloudEvent], count: int) -> float:
    sink = NullSink()
    started = time.perf_counter()
    for event in events:
        sink.write(json.dumps(event.to_dict(), default=str).encode() + b"\n")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    catalog = load_catalog(bundled_schema_dir())

    cases: list[tuple[str, dict[str, Any]]] = [
        ("order (Avro v3)", {"mix": parse_mix("order")}),
        ("inventory (JSON v2)", {"mix": parse_mix("inventory")}),
        ("complaint (JSON v3)", {"mix": parse_mix("complaint")}),
        ("order, schema-driven", {"mix": parse_mix("order"), "schema_driven": True}),
        ("inventory, schema-driven", {"mix": parse_mix("inventory"), "schema_driven": True}),
        ("default mix 70/20/10", {}),
        ("mix, versions 1:30,2:70", {"version_mix": ((1, 30.0), (2, 70.0))}),
        ("flow order-lifecycle", {"flow": parse_flow("order-lifecycle")}),
    ]
    print(f"events per run: {args.events:,}; runs: {args.runs}; medians, events/s on one core")
    print(f"{'case':<28}{'no validation':>16}{'validation':>14}{'cost':>8}")
    for name, extra in cases:
        row: list[float] = []
        for validate in (False, True):
            rates = [
                _rate(
                    EventStream(
                        catalog, GenerateOptions(count=args.events, seed=run, validate=validate, **extra)
                    ),
                    args.events,
                )
                for run in range(args.runs)
            ]
            row.append(statistics.median(rates))
        cost = (row[0] / row[1] - 1) * 100
        print(f"{name:<28}{row[0]:>16,.0f}{row[1]:>14,.0f}{cost:>7.0f}%")

    events = list(
        EventStream(catalog, GenerateOptions(count=min(args.events, 50_000), mix=parse_mix("order")))
    )
    stdlib = statistics.median(_stdlib_rate(events, len(events)) for _ in range(args.runs))
    ours = statistics.median(
        len(events) / _time(lambda: write_jsonl(events, cast("IO[bytes]", NullSink())))
        for _ in range(args.runs)
    )
    print(
        f"\nencoding only (orders already generated): orjson {ours:,.0f}/s vs json.dumps {stdlib:,.0f}/s "
        f"= {ours / stdlib:.1f}x"
    )


def _time(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
