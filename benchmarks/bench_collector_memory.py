"""Peak RSS of a real `evtool collect` process under hostile result posters, and real-post latency.

The load: 1,000 idle connections, 300 posts that vanish mid-body, then N concurrent bodies of
SIZE bytes (``pad``: one result with a large data member; ``batch``: a JSON array of small
results), while another thread posts a real result every 50 ms and times the answer. The
figure is the process's VmHWM (peak resident set) read from /proc.

    .venv/bin/python benchmarks/bench_collector_memory.py --kind pad --bodies 60 --size 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.collector_load import (
    collector_process,
    disconnect_mid_body,
    idle_connections,
    post_big,
    post_results,
)


async def _post_batches(url: str, count: int, size: int) -> list[int]:
    items, total = [], 2
    while total < size:
        item = {"correlationid": f"00000000-0000-4000-8000-{len(items):012d}"}
        items.append(item)
        total += len(orjson.dumps(item)) + 1
    body = orjson.dumps(items)

    async def one(session: aiohttp.ClientSession) -> int:
        try:
            async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
                return r.status
        except aiohttp.ClientError:
            return 0

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        return list(await asyncio.gather(*(one(session) for _ in range(count))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["pad", "batch"], default="pad")
    parser.add_argument("--bodies", type=int, default=60)
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--disconnects", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, collector_process(Path(tmp) / "run") as collector:
        baseline = collector.rss_mib()
        idle = idle_connections(collector.port, args.idle)
        real: list[tuple[int, float]] = []
        stop = threading.Event()

        def poster() -> None:
            async def loop() -> None:
                while not stop.is_set():
                    real.extend(await post_results(collector.url, [f"real-{len(real)}"], timeout_s=10))
                    await asyncio.sleep(0.05)

            asyncio.run(loop())

        thread = threading.Thread(target=poster)
        thread.start()

        async def load() -> list[int]:
            await disconnect_mid_body(collector.port, args.disconnects)
            if args.kind == "pad":
                return await post_big(collector.url, args.bodies, args.size)
            return await _post_batches(collector.url, args.bodies, args.size)

        statuses = asyncio.run(load())
        stop.set()
        thread.join()
        peak = collector.peak_rss_mib()
        for s in idle:
            s.close()
        code, _, err = collector.stop()
    times = sorted(t for _, t in real)
    print(f"kind={args.kind} bodies={args.bodies}x{args.size} idle={len(idle)} "
          f"disconnects={args.disconnects}")
    print(f"RSS baseline {baseline:.0f} MiB, peak {peak:.0f} MiB; body answers "
          f"{ {s: statuses.count(s) for s in sorted(set(statuses))} }")
    print(f"real posts {len(real)}: all 202={all(s == 202 for s, _ in real)}, "
          f"p50 {statistics.median(times) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")
    print(f"exit {code}, traceback in stderr: {'Traceback' in err}")


if __name__ == "__main__":
    main()
