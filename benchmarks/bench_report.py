"""Benchmark: `latency-report` over a 10-million-event run (time and peak memory), HDR fill, merge.

Usage:
    /work/venv/bin/python benchmarks/bench_report.py [--events 10000000] [--repeat 3] [--dir /tmp/x]
    /work/venv/bin/python benchmarks/bench_report.py --html-only   # render + screenshot the HTML

Each timed report runs in a fresh child process, so its peak RSS (VmHWM) is the report's
own peak, not the generator's. Figures are medians of --repeat runs. The synthetic run has the
ids a real `simulate` run writes (structured UUIDv8, records in completion order); the same
run is also reported with the hash join every other key takes (replayed logs' own ids,
`--correlate-by data.order_id`), for the fallback figure. The HDR section compares
one-value-at-a-time `record_value` (the obvious way) with the bulk fills used by evtool, in the
same run. The HTML section renders a report with a mid-run slowdown and screenshots it with
headless Chromium when `chromium` is installed.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evtool.results import histogram as hdr
from evtool.results.runlog import EVENT_DTYPE, RESULT_DTYPE, SEQ_BITS, EventIds, Reason, RunMeta, Status

MS = 1_000_000
T0 = 1_767_225_600_000_000_000


def synthesize(run_dir: Path, n: int, seed: int = 1, slow_from: float = 0.6, slow_to: float = 0.7,
               ids: str = "structured") -> None:
    """A run of `n` events at 10 000/s: ack ~20 ms, results uniform 100–400 ms (slower for a while).

    `ids="structured"`: keys as `simulate` writes them (`EventIds`: UUIDv8 nonce|shard|sequence,
    sequence in plan order) and records in completion order (by ack time), as the dispatcher
    appends them. `ids="random"`: random 16-byte keys (a replayed log's own ids), which the
    report joins by hash.
    """
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    events = np.zeros(n, dtype=EVENT_DTYPE)
    if ids == "structured":
        scheme = EventIds(0, nonce=int(rng.integers(0, 2**63))).scheme
        high = np.full(n, scheme.high, dtype=">u8")
        low = (np.uint64(scheme.prefix) << np.uint64(SEQ_BITS)) | np.arange(n, dtype=np.uint64)
        words = np.empty((n, 2), dtype=">u8")
        words[:, 0] = high
        words[:, 1] = low
        events["key"] = words.view("V16").reshape(n)
        del high, low, words
    else:
        keys = rng.integers(0, 2**63, (n, 2), dtype=np.int64)
        events["key"] = keys.view("V16").reshape(n)
        del keys
    interval = max(1, int(1e9 / 10_000))
    events["intended_ns"] = T0 + np.arange(n, dtype=np.int64) * interval
    events["sent_ns"] = events["intended_ns"] + rng.integers(20_000, 400_000, n)
    events["ack_ns"] = events["sent_ns"] + (rng.lognormal(3, 0.3, n) * MS).astype(np.int64)
    events["type"] = rng.integers(0, 3, n)
    events["schema_version"] = 1 + rng.integers(0, 2, n)
    events["status"] = Status.OK
    events["http_status"] = 202
    events["attempts"] = 1
    roll = rng.random(n)
    failed = roll < 0.001
    dropped = (roll >= 0.001) & (roll < 0.0015)
    aborted = np.zeros(n, dtype=np.bool_)
    aborted[-200:] = True  # the run's end cut the last events off (half in flight, half unsent)
    failed &= ~aborted
    dropped &= ~aborted
    events["status"][failed] = Status.FAILED
    events["reason"][failed] = Reason.HTTP_STATUS
    events["http_status"][failed] = 503
    events["status"][dropped] = Status.DROPPED
    events["reason"][dropped] = Reason.MAX_IN_FLIGHT
    events["sent_ns"][dropped] = 0
    events["status"][-200:-100] = Status.FAILED
    events["status"][-100:] = Status.DROPPED
    events["reason"][aborted] = Reason.CANCELLED
    events["http_status"][aborted] = 0
    events["sent_ns"][-100:] = 0
    events["ack_ns"][dropped | failed | aborted] = 0
    ok = np.flatnonzero((events["status"] == Status.OK) & (roll < 0.9995))  # 0.05 % never answered
    delay = rng.uniform(100, 400, len(ok)) * MS
    slow = (ok >= int(n * slow_from)) & (ok < int(n * slow_to))
    delay[slow] *= 4
    results = np.zeros(len(ok), dtype=RESULT_DTYPE)
    results["key"] = events["key"][ok]
    results["received_ns"] = events["intended_ns"][ok] + delay.astype(np.int64)
    del delay, slow, ok
    completed = np.where(events["ack_ns"] > 0, events["ack_ns"], events["intended_ns"])
    events[np.argsort(completed, kind="stable")].tofile(run_dir / "events-0.bin")  # completion order
    del events, completed
    (run_dir / "events-0.types").write_text("commerce.order.placed\ninventory.alert\nsupport.complaint\n")
    order = np.argsort(results["received_ns"], kind="stable")  # the collector writes in arrival order
    results[order].tofile(run_dir / "results-0.bin")
    RunMeta(run_id="bench", command=["bench"], options={}, tool_version="bench", target="http://127.0.0.1",
            clock_origin_ns=T0, started_at="2026-01-01T00:00:00Z", collector="127.0.0.1:9000",
            result_timeout_ns=10_000 * MS, ended_at="2026-01-01T01:00:00Z").write(run_dir)


def _peak_rss_mib() -> float:
    """VmHWM: this process's own peak RSS (ru_maxrss survives exec, so it can be the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(run_dir: Path, join: str) -> None:
    """One timed report in this fresh process, as `latency-report --format json` makes it.

    The run is streamed (`open_run` + `compute_stats`, what `load_stats` does): reading the
    records is part of the stats time, not a separate step. Prints a JSON line of figures.
    """
    from evtool.results.report import build_document, render_json
    from evtool.results.runlog import open_run
    from evtool.results.slo import parse_slos
    from evtool.results.stats import compute_stats

    t0 = time.perf_counter()
    run = open_run(run_dir)
    stats = compute_stats([run], [run_dir], structured_ids=join == "structured")
    t1 = time.perf_counter()
    text = render_json(build_document(stats, parse_slos(None)))
    t2 = time.perf_counter()
    peak_mib = _peak_rss_mib()
    print(json.dumps({"stats": t1 - t0, "render": t2 - t1, "total": t2 - t0, "peak_mib": peak_mib,
                      "events": stats.counts.scheduled, "json_bytes": len(text)}))


def bench_report(run_dir: Path, repeat: int) -> None:
    for join, label in (("structured", "structured-id join (simulate's ids)"),
                        ("hash", "hash join (fallback: replayed ids, --correlate-by)")):
        runs = []
        for _ in range(repeat):
            out = subprocess.run([sys.executable, __file__, "--child", str(run_dir), "--join", join],
                                 check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in runs) for k in ("stats", "render", "total", "peak_mib")}
        print(f"report over {runs[0]['events']:,} events, {label} (median of {repeat}): "
              f"total {med['total']:.2f} s (read + stats {med['stats']:.2f} s, json {med['render']:.3f} s), "
              f"peak RSS {med['peak_mib']:.0f} MiB   [runs: "
              + ", ".join(f"{r['total']:.2f} s/{r['peak_mib']:.0f} MiB" for r in runs) + "]")
    baseline = subprocess.run([sys.executable, __file__, "--imports-only"],
                              check=True, capture_output=True, text=True).stdout.strip()
    size = sum(p.stat().st_size for p in run_dir.glob("*.bin")) / 2**20
    print(f"  (interpreter + imports alone: {float(baseline):.0f} MiB RSS; run files {size:.0f} MiB)")


def bench_hdr(n: int = 1_000_000, repeat: int = 3) -> None:
    rng = np.random.default_rng(5)
    values = (rng.uniform(100, 400, n) * 1000).astype(np.int64)  # µs

    def one_by_one() -> None:
        h = hdr.new_histogram()
        for v in values.tolist():
            h.record_value(v)

    def unique_counts() -> None:
        h = hdr.new_histogram()
        uniq, counts = np.unique(values, return_counts=True)
        for v, c in zip(uniq.tolist(), counts.tolist(), strict=True):
            h.record_value(v, c)

    def bincount() -> None:
        h = hdr.new_histogram()
        layout = hdr.Layout.of(h)
        hdr.add_counts(h, np.bincount(layout.index_of(values), minlength=layout.counts_len))

    timings = {}
    fills = (("record_value per value", one_by_one), ("np.unique + record_value(v, n)", unique_counts),
             ("vectorised index + bincount", bincount))
    for name, fn in fills:
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        timings[name] = statistics.median(samples)
    base = timings["record_value per value"]
    print(f"HDR fill of {n:,} values (median of {repeat}):")
    for name, t in timings.items():
        print(f"  {name:34s} {t * 1000:9.1f} ms   x{base / t:6.1f} vs per value")

    shards = []
    for i in range(8):
        h = hdr.new_histogram()
        layout = hdr.Layout.of(h)
        part = (rng.uniform(100, 400 + 50 * i, n // 8) * 1000).astype(np.int64)
        hdr.add_counts(h, np.bincount(layout.index_of(part), minlength=layout.counts_len))
        shards.append(h)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        total = hdr.new_histogram()
        for h in shards:
            total.add(h)
        samples.append(time.perf_counter() - t)
    print(f"merge of 8 shard histograms: {statistics.median(samples) * 1000:.2f} ms "
          f"({total.get_total_count():,} values)")


def bench_html(out_dir: Path) -> None:
    """Render the HTML report of a 200k-event run with a slowdown; screenshot it with Chromium."""
    from evtool.results.render_html import render_html
    from evtool.results.report import build_document, load_stats
    from evtool.results.slo import parse_slos

    run_dir = out_dir / "html-run"
    if not (run_dir / "meta.json").exists():
        synthesize(run_dir, 200_000, seed=3, slow_from=0.5, slow_to=0.6)
    stats = load_stats([run_dir], target_ns=2_000 * MS, window_ns=1_000 * MS)
    t = time.perf_counter()
    page = render_html(build_document(stats, parse_slos(None)))
    elapsed = time.perf_counter() - t
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    print(f"HTML report: {len(page) / 1024:.0f} KiB in {elapsed * 1000:.0f} ms -> {html_path}")
    browser = shutil.which("chromium")
    if browser is None:
        print("  chromium not installed: no screenshot (apt-get install -y chromium)")
        return
    shot = out_dir / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--screenshot={shot}", "--window-size=1200,1900", html_path.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    print(f"  screenshot: {shot} ({shot.stat().st_size / 1024:.0f} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "evtool-bench-report")
    parser.add_argument("--child", type=Path)
    parser.add_argument("--join", choices=("structured", "hash"), default="structured")
    parser.add_argument("--html-only", action="store_true")
    parser.add_argument("--imports-only", action="store_true")
    args = parser.parse_args()
    if args.imports_only:
        import evtool.results.report  # noqa: F401

        print(_peak_rss_mib())
        return
    if args.child:
        child(args.child, args.join)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    bench_html(args.dir)
    if args.html_only:
        return
    bench_hdr()
    run_dir = args.dir / f"run-ids-{args.events}"  # run-<n>: random keys, written by earlier versions
    if not (run_dir / "meta.json").exists():
        t = time.perf_counter()
        synthesize(run_dir, args.events)
        print(f"synthesized {args.events:,} events in {time.perf_counter() - t:.1f} s -> {run_dir}")
    bench_report(run_dir, args.repeat)


if __name__ == "__main__":
    main()
