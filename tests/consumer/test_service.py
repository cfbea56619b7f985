"""The reference consumer over real HTTP on 127.0.0.1: modes in, results out, queueing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from evtool.consumer.service import ConsumerSettings, ReferenceConsumer
from evtool.events.envelope import CONTENT_TYPE_BATCH, CONTENT_TYPE_STRUCTURED, CloudEvent, encode_batch


def _event(number: int) -> CloudEvent:
    return CloudEvent(
        id=f"00000000-0000-4000-8000-{number:012d}",
        source="test",
        type="inventory.stock.low",
        data={"sku": "SKU-00001", "warehouse_id": "WH-AAA-01", "on_hand": 1, "threshold": 10},
    )


async def _receiver() -> tuple[web.AppRunner, str, list[tuple[float, dict[str, Any]]]]:
    received: list[tuple[float, dict[str, Any]]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((time.perf_counter(), orjson.loads(await request.read())))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/results", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/results", received


async def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate() and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)


def test_every_content_mode_yields_a_correlated_result() -> None:
    async def scenario() -> None:
        runner, url, received = await _receiver()
        consumer = ReferenceConsumer(ConsumerSettings(workers=2, service_time_s=0.01, results_url=url))
        host, port = await consumer.start()
        target = f"http://{host}:{port}/events"
        try:
            async with aiohttp.ClientSession() as session:
                headers, body = _event(1).to_binary()
                async with session.post(target, data=body, headers=headers) as response:
                    assert response.status == 202
                async with session.post(
                    target, data=_event(2).to_json_bytes(), headers={"content-type": CONTENT_TYPE_STRUCTURED}
                ) as response:
                    assert response.status == 202
                async with session.post(
                    target,
                    data=encode_batch([_event(3), _event(4)]),
                    headers={"content-type": CONTENT_TYPE_BATCH},
                ) as response:
                    assert response.status == 202
                async with session.post(
                    target, data=b"{not json", headers={"content-type": CONTENT_TYPE_STRUCTURED}
                ) as response:
                    assert response.status == 400
            await _wait_for(lambda: len(received) == 4)
        finally:
            await consumer.stop()
            await runner.cleanup()
        correlations = sorted(payload["correlationid"] for _, payload in received)
        assert correlations == sorted(_event(n).id for n in (1, 2, 3, 4))
        assert all(p["type"] == "ai.decision.reorder" for _, p in received)
        assert all(p["data"]["decision"]["urgency"] == "expedite" for _, p in received)
        assert consumer.stats.invalid == 1

    asyncio.run(scenario())


def test_past_capacity_the_queue_grows_and_results_spread_out() -> None:
    async def scenario() -> None:
        runner, url, received = await _receiver()
        settings = ConsumerSettings(workers=1, service_time_s=0.05, service_jitter=0.0, results_url=url)
        consumer = ReferenceConsumer(settings)
        host, port = await consumer.start()
        try:
            async with aiohttp.ClientSession() as session:
                start = time.perf_counter()
                body = encode_batch([_event(n) for n in range(10)])
                async with session.post(
                    f"http://{host}:{port}/", data=body, headers={"content-type": CONTENT_TYPE_BATCH}
                ) as response:
                    assert response.status == 202
                assert consumer.stats.max_queue >= 9
            await _wait_for(lambda: len(received) == 10)
        finally:
            await consumer.stop()
            await runner.cleanup()
        last = max(t for t, _ in received) - start
        assert last >= 10 * 0.05 * 0.95  # one worker: ten service times back to back
        assert settings.capacity_per_s == 20

    asyncio.run(scenario())


def test_a_full_queue_answers_503_with_retry_after() -> None:
    async def scenario() -> None:
        consumer = ReferenceConsumer(ConsumerSettings(workers=1, service_time_s=1.0, queue_limit=2))
        host, port = await consumer.start()
        try:
            async with aiohttp.ClientSession() as session:
                statuses = []
                for n in range(5):
                    headers, body = _event(n).to_binary()
                    async with session.post(f"http://{host}:{port}/", data=body, headers=headers) as response:
                        statuses.append((response.status, response.headers.get("Retry-After")))
        finally:
            await consumer.stop()
        assert statuses[0] == (202, None)
        assert (503, "1") in statuses
        assert consumer.stats.rejected >= 1

    asyncio.run(scenario())
