"""Benchmark: how smooth three segments' arrivals are at the target, beside one process sending it all.

Usage (root, iproute2):
    python benchmarks/bench_segments_netns.py [--rate 1500] [--seconds 3] [--runs 3]

Four network namespaces on a bridge: a target (tests/support/arrival_sink.py, keeping each
arrival's time) and three senders. Each run sends the scenario twice: as three `--segment i/3`
processes started together by `--start-at`, and as one process in one sender namespace. Prints
the coefficient of variation of arrivals per 10 ms for both (issue 14's goal: ≤ 0.1), medians of
--runs, and the ratio.

Arrivals are the kernel's receive timestamps of the requests' packets at the target host (the
sink's handler stamps, which add the sink's own wait for a core, are printed beside). Sink and
senders run under SCHED_FIFO (`--priority realtime`, the default; `tests.support.netns.realtime`
says why): on a shared box the other tenants' load otherwise decides how smooth the arrivals
are. `--priority normal` measures that instead. The load average and the CPU pressure
(/proc/pressure/cpu, 'some' avg10) are printed beside each run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.netns import Host, hosts, realtime  # noqa: E402

EVTOOL = str(Path(sys.executable).parent / "evtool")
PORT = 18090


def send(target: Host, senders: list[Host], work: Path, rate: int, seconds: int, segments: bool,
         rt: bool) -> tuple[float, float]:
    out = work / f"arrivals-{segments}.json"
    sink_command = target.command(
        sys.executable, "-m", "tests.support.arrival_sink", target.address, str(PORT), str(out)
    )
    sink = subprocess.Popen(
        realtime(sink_command) if rt else sink_command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    assert sink.stdout.readline().strip() == "ready"
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
    common = [
        "simulate",
        "--target",
        f"http://{target.address}:{PORT}/e",
        "--rate",
        f"{rate}/s",
        "--duration",
        f"{seconds}s",
        "--seed",
        "3",
        "--quiet",
        "--start-at",
        start,
    ]
    if segments:
        commands = [
            host.command(EVTOOL, *common, "--segment", f"{i}/3", "--run-dir", str(work / f"s{i}-{start}"))
            for i, host in enumerate(senders)
        ]
    else:
        commands = [senders[0].command(EVTOOL, *common, "--run-dir", str(work / f"one-{start}"))]
    processes = [
        subprocess.Popen(realtime(c) if rt else c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
        for c in commands
    ]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    sink.send_signal(signal.SIGTERM)
    sink.wait(timeout=30)
    stamps = json.loads(out.read_text())
    origin = int(dt.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1e9)
    return cv_per_10ms(stamps["kernel"], origin), cv_per_10ms(stamps["handler"], origin)


def cv_per_10ms(times: list[int], origin_ns: int) -> float:
    """CV of arrivals per 10 ms from the schedule's time zero, the first and last 100 ms left out."""
    if not times:
        return float("nan")
    per_10ms = np.bincount((np.array(times, dtype=np.int64) - origin_ns) // 10_000_000)[10:-10]
    return float(per_10ms.std() / per_10ms.mean())


def pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().split()[1]  # avg10=...
    except (OSError, IndexError):
        return "avg10=?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1500)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--priority", choices=("realtime", "normal"), default="realtime")
    args = parser.parse_args()
    rt = args.priority == "realtime"
    print(f"load: {os.getloadavg()[0]:.2f}, cpu pressure some {pressure()}; {args.rate}/s for "
          f"{args.seconds} s, {args.priority} priority; CV of arrivals per 10 ms (kernel stamps; handler)")
    three, one = [], []
    with tempfile.TemporaryDirectory() as tmp, hosts(4) as (target, *senders):
        for _ in range(args.runs):
            three.append(send(target, senders, Path(tmp), args.rate, args.seconds, segments=True, rt=rt))
            one.append(send(target, senders, Path(tmp), args.rate, args.seconds, segments=False, rt=rt))
            print(f"  3 segments {three[-1][0]:.3f} ({three[-1][1]:.3f})   1 process {one[-1][0]:.3f} "
                  f"({one[-1][1]:.3f})   load {os.getloadavg()[0]:.2f}, pressure {pressure()}", flush=True)
    a, b = statistics.median(k for k, _ in three), statistics.median(k for k, _ in one)
    ha, hb = statistics.median(h for _, h in three), statistics.median(h for _, h in one)
    print(f"median CV: 3 segments {a:.3f}, 1 process {b:.3f} (ratio {a / b:.2f}); handler stamps "
          f"{ha:.3f}, {hb:.3f}; load {os.getloadavg()[0]:.2f}, pressure {pressure()}")


if __name__ == "__main__":
    main()
