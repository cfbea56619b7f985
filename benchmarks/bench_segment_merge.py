"""Benchmark: `latency-report` merging N segments of one scenario (time and peak memory).

Usage:
    python benchmarks/bench_segment_merge.py [--segments 2,8,32] [--events 1000000] [--repeat 3]

Each segment is a synthetic run of --events events (the shape `bench_report.synthesize` writes:
structured ids, acks, results, a few failures), marked segment i/N of one scenario. Each timed
merge runs in a fresh child process (its own peak RSS, VmHWM) and does what `latency-report`
does: checks the segments, streams them, and builds the JSON document. Prints seconds, seconds
per 10 M events, the child's CPU seconds (user + system: on a shared box the wall time includes
waiting for a core) and peak MiB per segment count, medians of --repeat, and the load average.
Goal (issue 14): linear in events, under 2 s per 10 M events.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import _peak_rss_mib, synthesize
from evtool.results.runlog import RunMeta


def make_segments(root: Path, count: int, events: int) -> list[Path]:
    dirs = []
    for index in range(count):
        run_dir = root / f"segment-{index}"
        synthesize(run_dir, events, seed=index + 1)
        meta = RunMeta.read(run_dir)
        meta.segment, meta.scenario_hash = f"{index}/{count}", "bench-scenario"
        meta.write(run_dir)
        dirs.append(run_dir)
    return dirs


def child(dirs: list[str]) -> None:
    from evtool.results.report import build_document, load_stats, render_json

    t0, c0 = time.perf_counter(), time.process_time()
    stats = load_stats([Path(d) for d in dirs], target_ns=2_000_000_000, window_ns=1_000_000_000)
    render_json(build_document(stats))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak_mib": _peak_rss_mib(),
                      "incomplete": stats.incomplete}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", default="2,8,32")
    parser.add_argument("--events", type=int, default=1_000_000, help="events per segment")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    root = Path(tempfile.mkdtemp(prefix="evtool-bench-segments-"))
    try:
        print(f"{'segments':>8} {'events':>12} {'median s':>9} {'s / 10 M':>9} {'cpu / 10 M':>10} "
              f"{'peak MiB':>9}  runs   (load average {os.getloadavg()[0]:.2f})")
        for count in (int(c) for c in args.segments.split(",")):
            dirs = make_segments(root / str(count), count, args.events)
            runs = []
            for _ in range(args.repeat):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", *map(str, dirs)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            assert not runs[0]["incomplete"], runs[0]["incomplete"]
            seconds = statistics.median(r["seconds"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            peak = statistics.median(r["peak_mib"] for r in runs)
            total = count * args.events
            print(
                f"{count:>8} {total:>12,} {seconds:>9.2f} {seconds / total * 1e7:>9.2f} "
                f"{cpu / total * 1e7:>10.2f} "
                f"{peak:>9.0f}  " + ", ".join(f"{r['seconds']:.2f}" for r in runs)
                + f"   (load average {os.getloadavg()[0]:.2f})",
                flush=True,
            )
            shutil.rmtree(root / str(count))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
