"""Throughput and schedule accuracy of `evtool simulate`/`replay` beside wrk, against the nginx sink.

Needs the peer sink (`/work/shared/peers/sink.sh start`; Debian packages nginx-light and wrk)
on 127.0.0.1:18080. Every figure is the median of --runs runs, measured in this one process
tree on the same (shared, noisy) machine, and set beside wrk and plain aiohttp measured in
the same run:

- wrk -t2 -c64 (peer), plain aiohttp closed loop with 64 connections (library ceiling);
- evtool, single events, --as-fast-as-possible (64 in flight), 1 and 2 worker processes;
- evtool, batch mode: pre-serialized replay (100 and 1,000 a request, 1 and 2 processes; the
  log is `evtool generate` output repeated to --replay-events lines, about 710 bytes each), and
  generated events (simulate, 100 a request);
- evtool at fixed rates (2,000, 5,000 and 10,000/s, --rate-seconds long, single events):
  achieved rate, send lag p99/max, CPU share of one core during the run, and the coefficient
  of variation of arrivals per 10 ms at the sink; hey at the same rates (-c 10, -q rate/10,
  if installed) for the arrivals' smoothness beside a peer.

    /work/venv/bin/python benchmarks/bench_simulate.py [--runs 3] [--seconds 5] [--rate-seconds 30]
    /work/venv/bin/python benchmarks/bench_simulate.py --only replay      # just the replay rows
    /work/venv/bin/python benchmarks/bench_simulate.py --only rates       # just the fixed rates
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
    before = _cpu_s()
    started = time.perf_counter()
    summary = run(spec)
    wall = time.perf_counter() - started
    cpu = _cpu_s() - before  # the run only (imports excluded; start-up and summary included)
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


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + kids.ru_utime + kids.ru_stime


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


def hey_at(rate: int, seconds: int) -> None:
    """hey at a fixed total rate (10 workers, each rate/10 a second) into the logged sink."""
    subprocess.run(
        ["hey", "-z", f"{seconds}s", "-c", "10", "-q", str(rate // 10), "-m", "POST", "-D", "event.json",
         "-T", "application/json", LOGGED],
        cwd=PEERS,
        capture_output=True,
        timeout=seconds + 60,
        check=True,
    )


def sink_rate() -> float:
    """Arrivals a second at the sink over the logged run (first to last arrival)."""
    stamps = np.array([float(line.split()[0]) for line in ARRIVALS.read_text().splitlines() if line.strip()])
    return (len(stamps) - 1) / float(stamps.max() - stamps.min())


def arrivals_cv(window_ms: int = 10) -> float:
    """Coefficient of variation of arrivals per window at the sink (steady part only)."""
    stamps = np.array([float(line.split()[0]) for line in ARRIVALS.read_text().splitlines() if line.strip()])
    ms = np.round((stamps - stamps.min()) * 1000).astype(np.int64)
    counts = np.bincount(ms // window_ms)
    steady = counts[10:-10] if len(counts) > 40 else counts
    return float(steady.std() / steady.mean())


def make_log(path: Path, count: int, repeat_to: int = 0) -> None:
    """`count` generated events; repeated (ids and all) until the file has `repeat_to` lines."""
    from evtool.events.codecs import write_jsonl
    from evtool.load.source import GeneratedEvents

    stream = GeneratedEvents(mix="order=70,inventory=20,complaint=10", seed=7).stream()
    with path.open("wb") as out:
        write_jsonl((event for _, event in zip(range(count), stream, strict=False)), out)
    if repeat_to > count:
        data = path.read_bytes()
        with path.open("ab") as out:
            for _ in range(repeat_to // count - 1):
                out.write(data)


def median(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rate-seconds", type=int, default=30, help="length of each fixed-rate run")
    parser.add_argument("--replay-events", type=int, default=1_200_000)
    parser.add_argument("--only", choices=["throughput", "replay", "rates"])
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    subprocess.run([str(PEERS / "sink.sh"), "start"], check=False, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="bench-sim-log-"))
    log = work / "events.jsonl"
    make_log(log, 60_000)
    try:
        if args.only in (None, "throughput"):
            throughput(args, log)
        if args.only in (None, "throughput", "replay"):
            replay_rows(args, work)
        if args.only in (None, "rates"):
            rates(args, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _row(runs: int, name: str, measure: Callable[[], float]) -> float:
    value, values = median(runs, measure)
    print(f"{name:<58} {value:>10,.0f}   runs {', '.join(f'{v:,.0f}' for v in values)}", flush=True)
    return value


def throughput(args: argparse.Namespace, log: Path) -> None:
    runs, seconds = args.runs, args.seconds
    peer = _row(runs, "wrk -t2 -c64 requests/s (peer)", lambda: wrk(seconds))
    library = _row(runs, "plain aiohttp, 64 connections, requests/s", lambda: plain_aiohttp(20_000))
    base = {"source": "replay", "log": str(log), "url": SINK, "afap": True, "in_flight": 64}
    results: dict[str, float] = {}
    for client in ("aiohttp", "lean"):
        results[f"{client}-1"] = _row(
            runs,
            f"evtool replay single events, afap, 1 process, {client}",
            lambda c=client: evtool({**base, "client": c})["achieved"],  # type: ignore[misc]
        )
        results[f"{client}-2"] = _row(
            runs,
            f"evtool replay single events, afap, 2 processes, {client}",
            lambda c=client: evtool({**base, "client": c, "workers": 2, "in_flight": 128})["achieved"],  # type: ignore[misc]
        )
    generated = {
        "source": "generate", "url": SINK, "rate": 150_000, "seconds": 2, "batch": 100, "in_flight": 64
    }
    _row(
        runs,
        "evtool simulate generated, batch 100, 150k/s asked, lean",
        lambda: evtool({**generated, "client": "lean"})["achieved"],
    )
    _row(
        runs,
        "evtool simulate generated, batch 100, 2 processes, lean",
        lambda: evtool({**generated, "client": "lean", "workers": 2})["achieved"],
    )
    print()
    for key, value in results.items():
        print(f"ratio evtool {key} / wrk: {value / peer:.3f}   / plain aiohttp: {value / library:.3f}")
    print()


def replay_rows(args: argparse.Namespace, work: Path) -> None:
    """Pre-serialized replay (the recorded bytes sent as they are), batch mode, as fast as possible."""
    big = work / "replay.jsonl"
    make_log(big, 60_000, repeat_to=args.replay_events)
    lines = args.replay_events // 60_000 * 60_000
    print(f"replay log: {lines:,} lines, {big.stat().st_size / lines:.0f} bytes a line")
    base = {"source": "replay", "log": str(big), "url": SINK, "afap": True, "client": "lean", "in_flight": 64}
    for size in (100, 1000):
        for workers in (1, 2):
            _row(
                args.runs,
                f"evtool replay pre-serialized, batch {size}, {workers} process{'es' if workers > 1 else ''}",
                lambda s=size, w=workers: evtool({**base, "batch": s, "workers": w})["achieved"],  # type: ignore[misc]
            )
    print()


def rates(args: argparse.Namespace, log: Path) -> None:
    """Schedule accuracy at fixed rates, single events: evtool (lean and aiohttp) and hey."""
    runs, seconds = args.runs, args.rate_seconds
    need = 10_000 * seconds
    if need > 60_000:
        make_log(log, 60_000, repeat_to=need)
    cases = (("lean", 2000), ("lean", 5000), ("lean", 10_000), ("aiohttp", 2000), ("aiohttp", 5000))
    for client, rate in cases:
        runs_out = []
        cvs = []
        at_sink = []
        for _ in range(runs):
            subprocess.run([str(PEERS / "sink.sh"), "reset-log"], check=False, capture_output=True)
            runs_out.append(
                evtool({"source": "replay", "log": str(log), "url": LOGGED, "rate": rate, "seconds": seconds,
                        "client": client})
            )
            cvs.append(arrivals_cv())
            at_sink.append(sink_rate())
        achieved = statistics.median(r["achieved"] for r in runs_out)
        p99 = statistics.median(r["lag_p99_ms"] for r in runs_out)
        peak = statistics.median(r["lag_max_ms"] for r in runs_out)
        cpu = statistics.median(r["cpu_s"] / r["wall_s"] for r in runs_out)
        print(
            f"evtool {client:<8} {rate:>6}/s {seconds} s: achieved {achieved:,.1f}/s "
            f"({(achieved / rate - 1) * 100:+.2f}%; at the sink {statistics.median(at_sink):,.1f}/s), "
            f"send lag p99 {p99:.2f} ms max {peak:.2f} ms, CPU {cpu:.2f} core, "
            f"arrivals CV/10ms {statistics.median(cvs):.3f}   runs max lag "
            f"{', '.join(format(r['lag_max_ms'], '.1f') for r in runs_out)} ms",
            flush=True,
        )
    if shutil.which("hey") is None:
        print("hey not installed: no peer at fixed rates")
        return
    for rate in (2000, 5000, 10_000):
        cvs = []
        at_sink = []
        for _ in range(runs):
            subprocess.run([str(PEERS / "sink.sh"), "reset-log"], check=False, capture_output=True)
            hey_at(rate, seconds)
            cvs.append(arrivals_cv())
            at_sink.append(sink_rate())
        got = statistics.median(at_sink)
        print(
            f"hey -c 10 -q {rate // 10:<5} {seconds} s: at the sink {got:,.1f}/s "
            f"({(got / rate - 1) * 100:+.2f}%), "
            f"arrivals CV/10ms {statistics.median(cvs):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
