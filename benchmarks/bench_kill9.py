"""How much a kill -9 of `evtool simulate --collect` loses: events sent and never logged, results
answered 202 and never logged.

Each run: a counting sink on 127.0.0.1 (tests/support/counting_sink.py) that posts every event's
result back to the run's collector; `evtool simulate --rate RATE --collect` (the installed
command) is killed with SIGKILL `--kill-after` seconds after its time zero; then the sink's own
counts are held against the whole records in the run directory. The bound to expect is the
run log's flush interval (runlog.FLUSH_INTERVAL_S, 50 ms) of sends, plus the requests in flight.

    PATH=.venv/bin:$PATH .venv/bin/python benchmarks/bench_kill9.py [--runs 5] [--rate 500] [--kill-after 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.evtool_process import kill9_gap


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--kill-after", type=float, default=5.0)
    args = parser.parse_args()
    gaps = []
    print("run  received  logged  gap  gap_ms  results_202  results_logged  result_gap  ended_at")
    for number in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            gap = kill9_gap(Path(tmp) / "run", rate=args.rate, kill_after_s=args.kill_after)
        gaps.append(gap)
        print(f"{number:3d}  {gap.received:8d}  {gap.logged:6d}  {gap.gap_events:3d}  {gap.gap_ms:6.1f}  "
              f"{gap.results_accepted:11d}  {gap.results_logged:14d}  {gap.result_gap:10d}  {gap.ended_at}")
    events = [g.gap_events for g in gaps]
    results = [g.result_gap for g in gaps]
    print(f"events sent and not logged: median {statistics.median(events):g} "
          f"({statistics.median(events) / args.rate * 1000:.0f} ms), max {max(events)} "
          f"({max(events) / args.rate * 1000:.0f} ms) at {args.rate:g}/s")
    print(f"results answered 202 and not logged: median {statistics.median(results):g} "
          f"({statistics.median(results) / args.rate * 1000:.0f} ms), max {max(results)} "
          f"({max(results) / args.rate * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
