"""An HTTP sink that keeps each event's arrival time, as its own process (`python -m`), so it can
run inside a network namespace: `python -m tests.support.arrival_sink HOST PORT OUT`.

Answers 202 to every POST; on SIGTERM writes the arrival times (wall-clock ns, one per event) to
OUT as JSON and exits. It prints `ready` once it listens.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from aiohttp import web


async def main(host: str, port: int, out: str) -> None:
    arrivals: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        arrivals.append(time.time_ns())
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await runner.cleanup()
    with open(out, "w", encoding="utf-8") as file:
        json.dump(arrivals, file)


if __name__ == "__main__":
    try:
        import uvloop  # the faster loop where it exists: the sink must not be what limits the rate
    except ImportError:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    else:
        uvloop.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
