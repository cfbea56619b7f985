"""The collector: an HTTP receiver for the downstream results of the system under test.

The system under test POSTs its result events (to any path; CloudEvents binary, structured or
batched, or plain JSON). The collector stamps the arrival time first, answers 202, and appends
(correlation key, arrival time) to the run's results log. It does not know what was sent:
the report joins results to events later, so the collector stays cheap and can run on
another machine. A result without a correlation value is counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from evtool.errors import UsageError
from evtool.results.clock import RunClock
from evtool.results.runlog import ResultLogWriter, correlation_key

DEFAULT_CORRELATE_BY = "correlationid,causationid"
_CE_PREFIX = "ce-"
_MAX_BODY = 16 * 1024 * 1024
_FLUSH_EVERY_S = 0.5


@dataclass(frozen=True, slots=True)
class CorrelateBy:
    """Where a result's correlation value is, tried in order.

    A bare name (``correlationid``) is a CloudEvents attribute or extension (a ``ce-`` header
    in binary mode, a top-level member otherwise); a dotted path (``data.order_id``) is a
    field path into the event, where ``data`` is the event's data (the body in binary mode,
    and for plain JSON the body itself when it has no ``data`` member).
    """

    sources: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, spec: str | None = None) -> CorrelateBy:
        text = DEFAULT_CORRELATE_BY if spec is None else spec
        sources = []
        for raw in text.split(","):
            item = raw.strip()
            parts = tuple(item.split("."))
            if not item or any(not p for p in parts):
                raise UsageError(
                    f"bad --correlate-by {spec!r}: empty name in {item!r}",
                    hint="comma-separated CloudEvents attributes or field paths, "
                    "e.g. correlationid,causationid,data.order_id",
                )
            sources.append(parts)
        return cls(tuple(sources))

    def __str__(self) -> str:
        return ",".join(".".join(s) for s in self.sources)

    def find(self, event: dict[str, Any], *, plain: bool) -> str | None:
        for path in self.sources:
            value = _resolve(event, path)
            if value is None and plain and path[0] == "data" and len(path) > 1 and "data" not in event:
                value = _resolve(event, path[1:])
            if value is not None and value != "":
                return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return None


def _resolve(node: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


@dataclass(slots=True)
class CollectorCounts:
    """What the collector saw; written to ``collector-<shard>.json`` when it stops."""

    requests: int = 0
    results: int = 0  # recorded in the results log
    uncorrelated: int = 0  # result events with no correlation value
    unreadable: int = 0  # bodies that were not JSON / not an event
    notes: list[str] = field(default_factory=list)


class Collector:
    """`async with Collector(...) as c:` serves until the block ends; `c.address` is host:port."""

    def __init__(
        self,
        host: str,
        port: int,
        run_dir: Path,
        correlate_by: CorrelateBy | None = None,
        clock: RunClock | None = None,
        *,
        shard: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.run_dir = Path(run_dir)
        self.correlate_by = correlate_by or CorrelateBy.parse()
        self.clock = clock or RunClock()
        self.shard = shard
        self.counts = CollectorCounts()
        self._writer: ResultLogWriter | None = None
        self._runner: web.AppRunner | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.bound: tuple[str, int] | None = None

    @property
    def address(self) -> str:
        if self.bound is None:
            raise RuntimeError("collector is not running")
        return f"{self.bound[0]}:{self.bound[1]}"

    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._writer = ResultLogWriter(self.run_dir, self.shard)
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        app.router.add_route("PUT", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._writer.close()
            raise UsageError(
                f"collector cannot listen on {self.host}:{self.port}: {exc.strerror}",
                hint="pick a free port, or port 0 for any",
            ) from None
        bound = self._runner.addresses[0]
        self.bound = (str(bound[0]), int(bound[1]))
        self._flusher = asyncio.create_task(self._flush_periodically())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.write_counts()

    def write_counts(self) -> None:
        path = self.run_dir / f"collector-{self.shard}.json"
        path.write_text(json.dumps(asdict(self.counts), indent=2) + "\n", encoding="utf-8")

    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_EVERY_S)
            if self._writer is not None:
                self._writer.flush()

    async def _handle(self, request: web.Request) -> web.Response:
        received_ns = self.clock.now_ns()  # before reading the body: arrival, not parse time
        self.counts.requests += 1
        body = await request.read()
        for value in self._values(request, body):
            if value is None:
                self.counts.uncorrelated += 1
                continue
            if self._writer is not None:
                self._writer.append(correlation_key(value), received_ns)
                self.counts.results += 1
        return web.Response(status=202)

    def _values(self, request: web.Request, body: bytes) -> Iterator[str | None]:
        content_type = request.content_type.lower()
        headers = request.headers
        binary = "ce-id" in headers or "ce-specversion" in headers
        try:
            parsed: Any = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            parsed = None
            if not binary:  # binary mode may carry non-JSON data; the value is in the headers
                self.counts.unreadable += 1
                return
        if binary:  # attributes (and extensions) are ce-* headers
            event = {
                k.lower()[len(_CE_PREFIX) :]: v
                for k, v in headers.items()
                if k.lower().startswith(_CE_PREFIX)
            }
            event["data"] = parsed
            yield self.correlate_by.find(event, plain=False)
            return
        if content_type == "application/cloudevents-batch+json" or isinstance(parsed, list):
            for item in parsed if isinstance(parsed, list) else []:
                if isinstance(item, dict):
                    yield self.correlate_by.find(item, plain="specversion" not in item)
                else:
                    self.counts.unreadable += 1
            return
        if isinstance(parsed, dict):
            yield self.correlate_by.find(parsed, plain="specversion" not in parsed)
            return
        self.counts.unreadable += 1
