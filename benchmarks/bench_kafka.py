"""evtool's Kafka target beside Kafka's own ProducerPerformance, on the same local broker in one run.

The broker is `scripts/kafka up` (single node, KRaft; started if needed). Every row sends the same
records to its own fresh 3-partition topic with acks=all, idempotence on, linger.ms=5,
batch.size=1000000 (librdkafka's default) and lz4:

- ProducerPerformance (org.apache.kafka.tools.ProducerPerformance from kafka-tools),
  `--throughput -1`, `--payload-file` = the same structured CloudEvents lines evtool replays;
- evtool replay --as-fast-as-possible --mode structured (pre-serialized log: the value is the line);
- evtool simulate --as-fast-as-possible --count N, generated events in binary mode (ce_ headers).

Records/s for evtool = acknowledged events / (last ack - first send), from the run log (what
ProducerPerformance reports too: records over the time until the last ack); a row whose events
were not all acknowledged says how many were. Medians of --runs.

`--fixed RATE --seconds S` instead runs `evtool simulate --rate RATE/s --duration Ss` (generated
events, binary mode) and reports the achieved rate against the asked one and the scheduling lag
(send time - intended time) p50/p99/max, from the run log.

    .venv/bin/python benchmarks/bench_kafka.py [--runs 3] [--records 100000]
    .venv/bin/python benchmarks/bench_kafka.py --fixed 10000 --seconds 30
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "kafka"
SETTINGS = {"acks": "all", "enable.idempotence": "true", "linger.ms": "5", "batch.size": "1000000",
            "compression.type": "lz4"}


def sh(*args: str | Path, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def topic(bootstrap: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(timeout=30)
    return name


def producer_performance(bootstrap: str, classpath: str, log: Path, records: int) -> float:
    props = [f"bootstrap.servers={bootstrap}", *(f"{k}={v}" for k, v in SETTINGS.items())]
    out = sh("java", "-Xmx1g", "-cp", classpath, "org.apache.kafka.tools.ProducerPerformance",
             "--topic", topic(bootstrap), "--num-records", str(records), "--payload-file", log,
             "--throughput", "-1", "--producer-props", *props)
    found = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", out)
    return float(found[-1][1])


def evtool_rate(run_dir: Path) -> float:
    from evtool.results.runlog import Status, read_run

    events = read_run(run_dir).events
    ok = events[events["status"] == Status.OK]
    if len(ok) != len(events):
        print(f"  note: {run_dir.name}: {len(ok)} of {len(events)} events acknowledged", file=sys.stderr)
    span = int(ok["ack_ns"].max() - events["sent_ns"][events["sent_ns"] > 0].min())
    return len(ok) / (span / 1e9)


def evtool_run(bootstrap: str, work: Path, args: list[str]) -> Path:
    run_dir = work / f"run-{uuid.uuid4().hex[:6]}"
    x_options = [a for k, v in SETTINGS.items() for a in ("-X", f"{k}={v}")]
    sh(sys.executable, "-m", "evtool", *args, "--target", f"kafka://{bootstrap}/{topic(bootstrap)}",
       *x_options, "--max-in-flight", "200000", "--run-dir", run_dir, "-q")
    return run_dir


def fixed_rate(bootstrap: str, rate: int, seconds: int) -> None:
    import numpy as np

    from evtool.results.runlog import Status, read_run

    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        run_dir = evtool_run(bootstrap, Path(tmp), [
            "simulate", "--rate", f"{rate}/s", "--duration", f"{seconds}s", "--seed", "1"])
        events = read_run(run_dir).events
        sent = events[events["sent_ns"] > 0]
        ok = int((events["status"] == Status.OK).sum())
        span_s = (sent["sent_ns"].max() - sent["intended_ns"].min()) / 1e9
        achieved = len(sent) / span_s
        lag_ms = (sent["sent_ns"] - sent["intended_ns"]) / 1e6
        p50, p99 = np.percentile(lag_ms, [50, 99])
        print(f"broker {bootstrap}; evtool simulate --rate {rate}/s --duration {seconds}s; "
              f"{', '.join(f'{k}={v}' for k, v in SETTINGS.items())}")
        print(f"  scheduled {len(events)}, sent {len(sent)}, acknowledged {ok}; "
              f"achieved {achieved:,.1f}/s ({(achieved / rate - 1) * 100:+.2f}% of {rate}/s)")
        print(f"  scheduling lag p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {lag_ms.max():.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--fixed", type=int, help="events/s: a fixed-rate run instead (achieved rate, lag)")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    bootstrap = sh(sys.executable, SCRIPT, "up").strip()
    if args.fixed:
        fixed_rate(bootstrap, args.fixed, args.seconds)
        return
    classpath = sh(sys.executable, SCRIPT, "jars").strip()
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        work = Path(tmp)
        log = work / "events.jsonl"
        sh(sys.executable, "-m", "evtool", "generate", "--count", str(args.records), "--seed", "1", "-o", log)
        size = log.stat().st_size / args.records
        rows: dict[str, list[float]] = {"ProducerPerformance": [], "evtool replay": [], "evtool simulate": []}
        for _ in range(args.runs):  # interleaved, so a noisy neighbour hits every row alike
            rows["ProducerPerformance"].append(producer_performance(bootstrap, classpath, log, args.records))
            rows["evtool replay"].append(evtool_rate(evtool_run(bootstrap, work, [
                "replay", str(log), "--as-fast-as-possible", "--mode", "structured"])))
            rows["evtool simulate"].append(evtool_rate(evtool_run(bootstrap, work, [
                "simulate", "--as-fast-as-possible", "--count", str(args.records), "--seed", "1"])))
    peer = statistics.median(rows["ProducerPerformance"])
    print(f"broker {bootstrap}; {args.records} records of {size:.0f} bytes (structured JSON); "
          f"{', '.join(f'{k}={v}' for k, v in SETTINGS.items())}; median of {args.runs}")
    for name, values in rows.items():
        value = statistics.median(values)
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"  {name:<20} {value:>10,.0f} records/s  ({value / peer:.2f}x)   runs: {runs}")


if __name__ == "__main__":
    main()
