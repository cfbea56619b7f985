"""Benchmark: how smooth three segments' arrivals are at the target, beside one process sending it all.

Usage (root, iproute2):
    python benchmarks/bench_segments_netns.py [--rate 1500] [--seconds 3] [--runs 3]

Four network namespaces on a bridge: a target (tests/support/arrival_sink.py, keeping each
arrival's time) and three senders. Each run sends the scenario twice: as three `--segment i/3`
processes started together by `--start-at`, and as one process in one sender namespace. Prints
the coefficient of variation of arrivals per 10 ms for both (issue 14's goal: ≤ 0.1), medians of
--runs, and the ratio. The machine's load (uptime) is printed beside: a loaded box is not smooth.
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
from tests.support.netns import Host, hosts  # noqa: E402

EVTOOL = str(Path(sys.executable).parent / "evtool")
PORT = 18090


def send(target: Host, senders: list[Host], work: Path, rate: int, seconds: int, segments: bool) -> float:
    out = work / f"arrivals-{segments}.json"
    sink = subprocess.Popen(
        target.command(
            sys.executable, "-m", "tests.support.arrival_sink", target.address, str(PORT), str(out)
        ),
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
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands
    ]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    sink.send_signal(signal.SIGTERM)
    sink.wait(timeout=30)
    arrivals = np.array(json.loads(out.read_text()), dtype=np.int64)
    origin = int(dt.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1e9)
    per_10ms = np.bincount((arrivals - origin) // 10_000_000)[10:-10]
    return float(per_10ms.std() / per_10ms.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1500)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f}; {args.rate}/s for {args.seconds} s, CV of arrivals per 10 ms")
    three, one = [], []
    with tempfile.TemporaryDirectory() as tmp, hosts(4) as (target, *senders):
        for _ in range(args.runs):
            three.append(send(target, senders, Path(tmp), args.rate, args.seconds, segments=True))
            one.append(send(target, senders, Path(tmp), args.rate, args.seconds, segments=False))
            print(f"  3 segments {three[-1]:.3f}   1 process {one[-1]:.3f}", flush=True)
    a, b = statistics.median(three), statistics.median(one)
    print(
        f"median CV: 3 segments {a:.3f}, 1 process {b:.3f} (ratio {a / b:.2f}); load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
