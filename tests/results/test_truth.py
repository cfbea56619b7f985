"""Truth: a real service on 127.0.0.1 with a known delay distribution, measured end to end.

The service acknowledges after ~20 ms and POSTs its result to the collector after a uniform
100–400 ms delay, so end-to-end p50 must be ~250 ms and p99 ~397 ms. A second test makes the
target slow mid-run in front of a closed-loop sender: latencies must count from the intended
send time (no coordinated omission) and the verdict must say the sender fell behind.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from evtool.events.envelope import CloudEvent, dataschema_uri
from evtool.load.collector import Collector
from evtool.load.dispatcher import Dispatcher, DispatchOptions
from evtool.load.targets import make_target
from evtool.load.targets.base import OutEvent, TargetOptions
from evtool.results.clock import RunClock
from evtool.results.runlog import EventLogWriter, RunMeta, Status, correlation_key, read_run
from evtool.results.slo import Verdict, evaluate, parse_slos
from evtool.results.stats import E2E, LAG, SERVICE, compute_stats

MS = 1_000_000


@dataclass
class Service:
    """System under test: ack after `ack_delay(n)`, result to the collector after `result_delay()`."""

    ack_delay: Callable[[int], float]
    result_delay: Callable[[], float]
    url: str = ""
    collector_address: str = ""
    drawn: list[float] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def stop(self) -> None:
        """Stop taking requests, deliver the pending results, close the collector (flushed log)."""
        self.done.set()
        if self.thread is not None:
            self.thread.join(15)
            assert not self.thread.is_alive()


def _serve(service: Service, run_dir: Path, clock: RunClock) -> None:
    async def main() -> None:
        session = aiohttp.ClientSession()
        pending: set[asyncio.Task[None]] = set()
        count = 0

        async def post_result(cause: str, delay: float) -> None:
            await asyncio.sleep(delay)
            body = {"specversion": "1.0", "id": f"r-{cause}", "source": "/sut", "type": "decision",
                    "correlationid": cause, "data": {"ok": True}}
            async with session.post(f"http://{service.collector_address}/results", json=body,
                                    headers={"content-type": "application/cloudevents+json"}) as r:
                assert r.status == 202

        async def handle(request: web.Request) -> web.Response:
            nonlocal count
            number = count
            count += 1
            cause = request.headers["ce-id"]
            delay = service.result_delay()
            service.drawn.append(delay)
            task = asyncio.create_task(post_result(cause, delay))
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(service.ack_delay(number))
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        service.url = f"http://127.0.0.1:{runner.addresses[0][1]}/events"
        async with Collector("127.0.0.1", 0, run_dir, None, clock) as collector:
            service.collector_address = collector.address
            service.loop = asyncio.get_running_loop()
            service.loop.call_soon(service.ready.set)
            await asyncio.to_thread(service.done.wait)
            while pending:
                await asyncio.gather(*pending)
        await session.close()
        await runner.cleanup()

    asyncio.run(main())


@pytest.fixture
def running() -> Iterator[Callable[[Service, Path, RunClock], Service]]:
    services: list[Service] = []

    def start(service: Service, run_dir: Path, clock: RunClock) -> Service:
        service.thread = threading.Thread(target=_serve, args=(service, run_dir, clock), daemon=True)
        service.thread.start()
        assert service.ready.wait(10)
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop()


def _meta(run_dir: Path, clock: RunClock, service: Service) -> RunMeta:
    return RunMeta(run_id=run_dir.name, command=["test"], options={}, tool_version="0", target=service.url,
                   clock_origin_ns=clock.wall_origin_ns, started_at="2026-01-01T00:00:00Z",
                   collector=service.collector_address, result_timeout_ns=10_000 * MS,
                   ended_at="2026-01-01T00:01:00Z")  # these runs end cleanly; the reader needs to know


def _event(number: int) -> OutEvent:
    event = CloudEvent(id=f"evt-{number}", source="/truth", type="commerce.order.placed",
                       data={"n": number}, dataschema=dataschema_uri("commerce.order.placed", 2))
    return OutEvent(event=event, key=correlation_key(event.id), schema_version=2)


def test_injected_delays_are_reported_by_the_real_dispatcher(
    tmp_path: Path, running: Callable[[Service, Path, RunClock], Service]
) -> None:
    rng = random.Random(42)
    clock = RunClock()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    service = running(Service(ack_delay=lambda n: 0.020, result_delay=lambda: rng.uniform(0.1, 0.4)),
                      run_dir, clock)
    _meta(run_dir, clock, service).write(run_dir)
    count, rate = 450, 150.0

    async def drive() -> None:
        target = make_target(TargetOptions(target=service.url))
        await target.open()
        writer = EventLogWriter(run_dir)
        plan = ((int(i * 1e9 / rate), _event(i)) for i in range(count))
        result = await Dispatcher(plan, target, writer, clock, start_ns=clock.now_ns() + 50 * MS,
                                  options=DispatchOptions(max_in_flight=1000)).run()
        writer.close()
        await target.close()
        assert result.ok == count

    asyncio.run(drive())
    service.stop()  # waits for the results still on their way
    run = read_run(run_dir)
    stats = compute_stats([run], [run_dir])
    e2e = stats.distributions[E2E].percentiles_ms
    assert stats.counts.ok == count
    assert stats.counts.lost == 0
    assert stats.counts.unmatched_results == 0
    drawn = np.array(service.drawn) * 1000
    assert 235 <= e2e["p50"] <= 275  # the distribution's own p50 is 250
    assert 385 <= e2e["p99"] <= 425  # and its p99 is 397
    assert e2e["p50"] - float(np.percentile(drawn, 50)) == pytest.approx(5, abs=8)  # the drawn sample
    assert e2e["p99"] - float(np.percentile(drawn, 99)) == pytest.approx(5, abs=12)
    ack = stats.distributions["ack"].percentiles_ms
    assert 19 <= ack["p50"] <= 35
    assert evaluate(parse_slos(["p99<=500ms", "lost<=0"]), stats).verdict is Verdict.PASS
    assert evaluate(parse_slos(["p99<=300ms"]), stats).verdict is Verdict.FAIL


def test_a_target_made_slow_is_reported_slow_from_intended_time(
    tmp_path: Path, running: Callable[[Service, Path, RunClock], Service]
) -> None:
    clock = RunClock()
    run_dir = tmp_path / "slow"
    run_dir.mkdir()
    service = running(Service(ack_delay=lambda n: 1.2 if n == 5 else 0.020, result_delay=lambda: 0.1),
                      run_dir, clock)
    _meta(run_dir, clock, service).write(run_dir)
    count, interval_ns = 30, 50 * MS

    async def closed_loop_sender() -> None:
        """One request at a time: a slow answer delays every later send (the classic trap)."""
        writer = EventLogWriter(run_dir)
        start = clock.now_ns() + 20 * MS
        async with aiohttp.ClientSession() as session:
            for i in range(count):
                intended = start + i * interval_ns
                await asyncio.sleep(max(0, intended - clock.now_ns()) / 1e9)
                headers, body = _event(i).event.to_binary()
                sent = clock.now_ns()
                async with session.post(service.url, data=body, headers=headers) as response:
                    await response.read()
                writer.append(key=correlation_key(f"evt-{i}"), event_type="commerce.order.placed",
                              schema_version=2, intended_ns=intended, sent_ns=sent, ack_ns=clock.now_ns(),
                              status=Status.OK, http_status=response.status, attempts=1)
        writer.close()

    asyncio.run(closed_loop_sender())
    service.stop()
    stats = compute_stats([read_run(run_dir)], [run_dir])
    e2e = stats.distributions[E2E].percentiles_ms
    assert stats.counts.lost == 0
    assert e2e["max"] >= 1200  # the event queued behind the slow answer: ~1.15 s late + 100 ms
    assert e2e["p50"] >= 500  # most events waited behind it, though the service took 100 ms for each
    assert stats.distributions[SERVICE].percentiles_ms["p50"] < 60
    assert stats.distributions[LAG].percentiles_ms["p99"] >= 1000
    report = evaluate(parse_slos(None), stats)
    assert report.verdict is Verdict.NOT_MEASURABLE
    assert "fell behind" in report.not_measurable[0]
