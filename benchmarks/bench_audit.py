"""How fast `evtool audit` reads a run's events topic back, beside kcat reading the same records.

One run of `evtool simulate --as-fast-as-possible --count N` (generated events, binary mode) fills
a fresh 3-partition topic on the local broker (EVTOOL_KAFKA_BOOTSTRAP, else `scripts/kafka up`).
Then, --runs times each:

- `evtool audit RUN --format json`: records/s as the audit reports it (records read / time from
  the first fetch to the last record, connection and metadata included), and the command's
  wall time (process start, the run log read, the judging, audit.json written);
- `kcat -C -e -o beginning` of the same topic to /dev/null: the same records through librdkafka
  with no per-record work (the ceiling for a consumer on this box).

Medians of --runs are printed, with the audit command's CPU time (user + system, from
getrusage of the child) and the load average: on a shared box the wall-clock rate is the box's
share, the CPU time per record is the audit's own cost.

    .venv/bin/python benchmarks/bench_audit.py [--records 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVTOOL = Path(sys.executable).with_name("evtool")
LAST_CPU_S = 0.0  # CPU seconds of the last command `timed` ran
_CPU = [0.0]


def bootstrap() -> str:
    found = os.environ.get("EVTOOL_KAFKA_BOOTSTRAP", "").strip()
    if found:
        return found
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "kafka"), "up"], capture_output=True,
                          text=True, timeout=300, check=True)
    return done.stdout.strip()


def make_topic(servers: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"bench-audit-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": servers})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(timeout=30)
    return name


def timed(args: list[str], *, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.perf_counter() - started
    global LAST_CPU_S
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    LAST_CPU_S, _CPU[0] = total - _CPU[0], total
    if done.returncode not in ok:
        raise SystemExit(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    servers = bootstrap()
    topic = make_topic(servers)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as work:
        run_dir = Path(work) / "run"
        timed([str(EVTOOL), "simulate", "--target", f"kafka://{servers}/{topic}", "--as-fast-as-possible",
               "--count", str(args.records), "--seed", "1", "--run-dir", str(run_dir), "-q"])
        speeds, walls, kcats, cpus = [], [], [], []
        for _ in range(args.runs):
            wall, out = timed([str(EVTOOL), "audit", str(run_dir), "--format", "json"])
            audit = json.loads(out)
            if audit["verdict"] != "PASS":
                raise SystemExit(f"the audit of a clean run said {audit['verdict']}: {audit['reasons']}")
            read = audit["topic"]["records_read"]
            speeds.append(read / audit["topic"]["read_s"])
            walls.append(wall)
            cpus.append(LAST_CPU_S)
            kcat = shutil.which("kcat")
            if kcat:
                seconds, _ = timed([kcat, "-b", servers, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                                    "-f", "%o\n"])
                kcats.append(read / seconds)
        print(f"records: {read} on {topic} (3 partitions), median of {args.runs}")
        print(f"evtool audit, topic read: {statistics.median(speeds):,.0f} records/s")
        print(f"evtool audit, whole command: {statistics.median(walls):.2f} s "
              f"({read / statistics.median(walls):,.0f} records/s end to end)")
        cpu = statistics.median(cpus)
        print(f"evtool audit, CPU (user + system): {cpu:.2f} s, {cpu / read * 1e6:.1f} µs a record "
              f"({read / cpu:,.0f} records per CPU-second, whole command)")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if kcats:
            print(f"kcat -C -e, same records (whole process): {statistics.median(kcats):,.0f} records/s")


if __name__ == "__main__":
    main()
