"""Events per second, one core, for `evtool generate` written as JSONL to a null sink.

Cases: each bundled type alone (domain generators), the schema-driven generator on the same
schemas, the default mix, a version mix, and the order-lifecycle flow — each with and without
per-event validation. Goals (issue 3): a single bundled type >= 100,000 events/s and the flow
>= 50,000 events/s, with validation on. Prints medians of several runs.

Baselines measured in the same run: json.dumps of the same events (the stdlib way), and with
`--baseline DIR` an earlier evtool `src` folder run case by case in a child process, e.g.

    git archive <rev> src | tar -x -C /tmp/base
    /work/venv/bin/python benchmarks/bench_generate.py [--events 100000] [--runs 5] [--baseline /tmp/base/src]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

from evtool.catalog import load_catalog
from evtool.catalog.bundled import bundled_schema_dir
from evtool.events import CloudEvent, EventStream, GenerateOptions, parse_flow, parse_mix, write_jsonl

SINGLE_GOAL = 100_000
FLOW_GOAL = 50_000


class NullSink:
    """A binary file that forgets what it is given (measures generation + encoding only)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)


def _cases() -> dict[str, dict[str, Any]]:
    return {
        "order (Avro v3)": {"mix": parse_mix("order")},
        "inventory (JSON v2)": {"mix": parse_mix("inventory")},
        "complaint (JSON v3)": {"mix": parse_mix("complaint")},
        "order, schema-driven": {"mix": parse_mix("order"), "schema_driven": True},
        "inventory, schema-driven": {"mix": parse_mix("inventory"), "schema_driven": True},
        "default mix 70/20/10": {},
        "mix, versions 1:30,2:70": {"version_mix": ((1, 30.0), (2, 70.0))},
        "flow order-lifecycle": {"flow": parse_flow("order-lifecycle")},
    }


_GOALS = {
    "order (Avro v3)": SINGLE_GOAL,
    "inventory (JSON v2)": SINGLE_GOAL,
    "complaint (JSON v3)": SINGLE_GOAL,
    "flow order-lifecycle": FLOW_GOAL,
}


def _rate(stream: EventStream, events: int) -> float:
    sink = NullSink()
    started = time.perf_counter()  # setup (pools, compilation) happened in EventStream(); not timed
    written = write_jsonl(stream, cast("IO[bytes]", sink))
    elapsed = time.perf_counter() - started
    assert written == events
    return events / elapsed


def measure(case: str, validate: bool, events: int, runs: int, schemas: Path | None = None) -> float:
    """Median events/s of `runs` fresh streams (seeds 0..runs-1) of `events` each."""
    catalog = load_catalog(schemas or bundled_schema_dir())
    extra = _cases()[case]
    rates = [
        _rate(
            EventStream(catalog, GenerateOptions(count=events, seed=run, validate=validate, **extra)), events
        )
        for run in range(runs)
    ]
    return statistics.median(rates)


def _baseline(src: str, case: str, validate: bool, events: int, runs: int) -> float:
    """The same measurement with another evtool source tree, in a child process."""
    env = {**os.environ, "PYTHONPATH": src}
    command = [sys.executable, __file__, "--child", case, "--events", str(events), "--runs", str(runs)]
    command += ["--schemas", str(bundled_schema_dir())]  # the same schemas, wherever that tree is
    if validate:
        command.append("--validate")
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out)["rate"])


def _stdlib_rate(events: Iterable[CloudEvent], count: int) -> float:
    sink = NullSink()
    started = time.perf_counter()
    for event in events:
        sink.write(json.dumps(event.to_dict(), default=str).encode() + b"\n")
    return count / (time.perf_counter() - started)


def _time(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", help="an earlier evtool src folder, measured in the same run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--validate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--schemas", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"rate": measure(args.child, args.validate, args.events, args.runs, args.schemas)}))
        return

    print(f"events per run: {args.events:,}; runs: {args.runs}; medians, events/s on one core")
    if args.baseline:
        print(f"baseline: {args.baseline} (child process, same run); 'x' = this tree / baseline")
        header = f"{'case':<26}{'no validation':>14}{'baseline':>10}{'x':>6}"
        header += f"{'validation':>12}{'baseline':>10}{'x':>6}"
    else:
        header = f"{'case':<26}{'no validation':>14}{'validation':>12}{'cost':>7}"
    print(header + "   goal (validation on)")
    for case in _cases():
        cells: list[str] = []
        row: list[float] = []
        for validate in (False, True):
            ours = measure(case, validate, args.events, args.runs)
            row.append(ours)
            width = 14 if not validate else 12
            cells.append(f"{ours:>{width},.0f}")
            if args.baseline:
                before = _baseline(args.baseline, case, validate, args.events, args.runs)
                cells.append(f"{before:>10,.0f}{ours / before:>5.1f}x")
        if not args.baseline:
            cells.append(f"{(row[0] / row[1] - 1) * 100:>6.0f}%")
        goal = _GOALS.get(case)
        verdict = "" if goal is None else f"   >= {goal:,}: {'met' if row[1] >= goal else 'MISSED'}"
        print(f"{case:<26}{''.join(cells)}{verdict}", flush=True)

    catalog = load_catalog(bundled_schema_dir())
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


if __name__ == "__main__":
    main()
