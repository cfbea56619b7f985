"""Throughput and schedule accuracy of `evtool simulate`/`replay` beside wrk, against the nginx sink.

Needs the peer sink (`/work/shared/peers/sink.sh start`; Debian packages nginx-light and wrk)
on 127.0.0.1:18080. Every figure is the median of --runs runs, measured in this one process
tree on the same (shared, noisy) machine, and set beside wrk and plain aiohttp measured in
the same run:

- wrk -t2 -c64 (peer), plain aiohttp closed loop with 64 connections (library ceiling);
- evtool, single events, --as-fast-as-possible (64 in flight), 1 and 2 worker processes;
- evtool, batch mode (100 a request): pre-serialized replay, and generated events (simulate);
- evtool at fixed rates (2,000, 5,000 and 10,000/s): achieved rate, send lag p99/max, CPU
  share of one core, and the coefficient of variation of arrivals per 10 ms at the sink.

    /work/venv/bin/python benchmarks/bench_simulate.py [--runs 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

PEERS = Path("/work/shared/peers")
SINK = "http://127.0.0.1:18080/events"
LOGGED = "http://127.0.0.1:18080/events-logged"
ARRIVALS = Path("/tmp/evtool-peer-sink/arrivals.log")


# -- children: one evtool run each (own process, so CPU is measured per run) -------------------


def child(config: dict[str, Any]) -> None:
    from evtool.load.dispatcher import DispatchOptions
    from evtool.load.plan import ArrivalSpec, GeneratedPlan, ReplayPlan
    from evtool.load.runner import RunSpec, run
    from evtool.load.source import GeneratedEvents
    from evtool.load.targets.base import TargetOptions

    run_dir = Path(config["run_dir"])
    size = config.get("batch", 1)
    mode: Literal["binary", "structured", "batch"] = "batch" if size > 1 else "binary"
    afap = config.get("afap", False)
    cap = config.get("in_flight", 10_000)
    if config["source"] == "replay":
        plan: Any = ReplayPlan(
            Path(config["log"]),
            rate=config.get("rate"),
            as_fast_as_possible=afap,
            duration_s=config.get("seconds"),
        )
    else:
        arrival = ArrivalSpec("constant", rate=config["rate"], duration_s=config["seconds"])
        plan = GeneratedPlan(arrival, GeneratedEvents(mix="order=70,inventory=20,complaint=10", seed=1))
    spec = RunSpec(
        plan=plan,
        target=TargetOptions(
            config["url"],
            mode=mode,
            batch_size=size,
            max_in_flight=cap,
            client=config.get("client", "aiohttp"),
        ),
        dispatch=DispatchOptions(max_in_flight=cap, batch_size=size, as_fast_as_possible=afap),
        workers=config.get("workers", 1),
        run_dir=run_dir,
    )
    started = time.perf_counter()
    summary = run(spec)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime
    print(
        json.dumps(
            {
                "ok": summary.ok,
                "scheduled": summary.scheduled,
                "achieved": summary.achieved_rate,
                "lag_p99_ms": summary.lag_p99_ms,
                "lag_max_ms": summary.lag_max_ms,
                "cpu_s": cpu,
                "wall_s": wall,
            }
        )
    )


def evtool(config: dict[str, Any]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    try:
        config = {**config, "run_dir": str(work / "run")}
        out = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- peers --------------------------------------------------------------------------------------


def wrk(seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", "wrk_post.lua", SINK],
        cwd=PEERS,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def plain_aiohttp(count: int) -> float:
    import aiohttp

    body = (PEERS / "event.json").read_bytes()

    async def main() -> float:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            left = [count]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    async with session.post(
                        SINK, data=body, headers={"Content-Type": "application/json"}
                    ) as r:
                        await r.read()

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(64)))
            return count / (time.perf_counter() - started)

    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


def arrivals_cv(window_ms: int = 10) -> float:
    """Coefficient of variation of arrivals per window at the sink (steady part only)."""
    stamps = np.array([float(line.split()[0]) for line in ARRIVALS.read_text().splitlines() if line.strip()])
    ms = np.round((stamps - stamps.min()) * 1000).astype(np.int64)
    counts = np.bincount(ms // window_ms)
    steady = counts[10:-10] if len(counts) > 40 else counts
    return float(steady.std() / steady.mean())


def make_log(path: Path, count: int) -> None:
    from evtool.events.codecs import write_jsonl
    from evtool.load.source import GeneratedEvents

    stream = GeneratedEvents(mix="order=70,inventory=20,complaint=10", seed=7).stream()
    with path.open("wb") as out:
        write_jsonl((event for _, event in zip(range(count), stream, strict=False)), out)


def median(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    subprocess.run([str(PEERS / "sink.sh"), "start"], check=False, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="bench-sim-log-"))
    log = work / "events.jsonl"
    make_log(log, 60_000)
    runs, seconds = args.runs, args.seconds
    rows: list[tuple[str, float, list[float]]] = []

    def row(name: str, measure: Callable[[], float]) -> float:
        value, values = median(runs, measure)
        rows.append((name, value, values))
        print(f"{name:<58} {value:>10,.0f}   runs {', '.join(f'{v:,.0f}' for v in values)}", flush=True)
        return value

    peer = row("wrk -t2 -c64 requests/s (peer)", lambda: wrk(seconds))
    library = row("plain aiohttp, 64 connections, requests/s", lambda: plain_aiohttp(20_000))
    base = {"source": "replay", "log": str(log), "url": SINK, "afap": True, "in_flight": 64}
    results: dict[str, float] = {}
    for client in ("aiohttp", "lean"):
        results[f"{client}-1"] = row(
            f"evtool replay single events, afap, 1 process, {client}",
            lambda c=client: evtool({**base, "client": c})["achieved"],  # type: ignore[misc]
        )
        results[f"{client}-2"] = row(
            f"evtool replay single events, afap, 2 processes, {client}",
            lambda c=client: evtool({**base, "client": c, "workers": 2, "in_flight": 128})["achieved"],  # type: ignore[misc]
        )
    row(
        "evtool replay pre-serialized, batch 100, afap, lean",
        lambda: evtool({**base, "client": "lean", "batch": 100})["achieved"],
    )
    generated = {
        "source": "generate",
        "url": SINK,
        "rate": 150_000,
        "seconds": 2,
        "batch": 100,
        "in_flight": 64,
    }
    row(
        "evtool simulate generated, batch 100, 150k/s asked, lean",
        lambda: evtool({**generated, "client": "lean"})["achieved"],
    )
    row(
        "evtool simulate generated, batch 100, 2 processes, lean",
        lambda: evtool({**generated, "client": "lean", "workers": 2})["achieved"],
    )
    print()
    for key, value in results.items():
        print(f"ratio evtool {key} / wrk: {value / peer:.3f}   / plain aiohttp: {value / library:.3f}")
    print()
    for client, rate in (
        ("aiohttp", 2000),
        ("aiohttp", 5000),
        ("lean", 2000),
        ("lean", 5000),
        ("lean", 10_000),
    ):
        runs_out = []
        cvs = []
        for _ in range(runs):
            subprocess.run([str(PEERS / "sink.sh"), "reset-log"], check=False, capture_output=True)
            runs_out.append(
                evtool(
                    {
                        "source": "replay",
                        "log": str(log),
                        "url": LOGGED,
                        "rate": rate,
                        "seconds": seconds,
                        "client": client,
                    }
                )
            )
            cvs.append(arrivals_cv())
        achieved = statistics.median(r["achieved"] for r in runs_out)
        p99 = statistics.median(r["lag_p99_ms"] for r in runs_out)
        peak = statistics.median(r["lag_max_ms"] for r in runs_out)
        cpu = statistics.median(r["cpu_s"] / r["wall_s"] for r in runs_out)
        print(
            f"{client:<8} rate {rate:>6}/s: achieved {achieved:,.1f}/s "
            f"({(achieved / rate - 1) * 100:+.2f}%), "
            f"send lag p99 {p99:.2f} ms max {peak:.2f} ms, CPU {cpu:.2f} core (incl. start-up), "
            f"arrivals CV/10ms {statistics.median(cvs):.3f}",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
