"""What the live view costs the sender: `LogTail.poll` over a synthetic log, a tick at a time.

The view joins events and results from the run log in the sender's own loop, so its cost per
event bounds the rate at which it stays out of the schedule's way. Writes N event records and
their results (50 ms later) into a temporary run directory in ticks of 2,500 (10,000 events/s
at 4 ticks a second) and times each poll. `--keys hashed` uses non-structured keys (a replayed
log, --correlate-by), which take the dict join instead of the sequence-number tables.

    python benchmarks/bench_live_tail.py [--events 100000] [--keys structured|hashed]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from evtool.load.live import LogTail
from evtool.results.runlog import EVENT_DTYPE, RESULT_DTYPE, EventIds, RunMeta, Status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tick", type=int, default=2_500)
    parser.add_argument("--keys", choices=("structured", "hashed"), default="structured")
    args = parser.parse_args()
    n = args.events
    run_dir = Path(tempfile.mkdtemp(prefix="evtool-bench-tail-"))
    RunMeta(run_id="bench", command=[], options={}, tool_version="0", target="http://127.0.0.1/",
            clock_origin_ns=0, started_at="").write(run_dir)
    events = np.zeros(n, dtype=EVENT_DTYPE)
    if args.keys == "structured":
        ids = EventIds(0)
        events["key"] = np.frombuffer(b"".join(ids.next()[1] for _ in range(n)), dtype="V16")
    else:
        words = np.random.default_rng(1).integers(0, 2**63, size=(n, 2), dtype=np.int64)
        events["key"] = words.view("V16").ravel()
    events["intended_ns"] = np.arange(n, dtype=np.int64) * 100_000 + 1_000_000_000
    events["ack_ns"] = events["intended_ns"] + 1_000_000
    events["status"] = Status.OK
    results = np.zeros(n, dtype=RESULT_DTYPE)
    results["key"] = events["key"]
    results["received_ns"] = events["intended_ns"] + 50_000_000
    tail = LogTail(run_dir, collecting=True, target_ns=2_000_000_000)
    polls: list[float] = []
    with (run_dir / "events-0.bin").open("ab") as event_file, \
            (run_dir / "results-0.bin").open("ab") as result_file:
        for start in range(0, n, args.tick):
            event_file.write(events[start : start + args.tick].tobytes())
            event_file.flush()
            result_file.write(results[max(0, start - args.tick) : start].tobytes())
            result_file.flush()
            began = time.perf_counter()
            tail.poll(int(events["intended_ns"][start]) + 100_000_000)
            polls.append(time.perf_counter() - began)
    spent = sum(polls)
    print(f"{n} events and their results, {args.keys} keys: {spent / n * 1e6:.2f} us an event; "
          f"a poll of {args.tick}: median {sorted(polls)[len(polls) // 2] * 1000:.2f} ms, "
          f"max {max(polls) * 1000:.2f} ms (matched {tail.results}, waiting {tail.pending})")


if __name__ == "__main__":
    main()
