"""Run directories written record by record, with exactly the latencies a test wants."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evtool.results.runlog import (
    OFFSET_DTYPE,
    EventLogWriter,
    Reason,
    ResultLogWriter,
    RunMeta,
    Status,
    correlation_key,
)

MS = 1_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns


@dataclass
class Ev:
    key: str
    intended_ms: float
    result_ms: Sequence[float] = ()  # arrival times of results (ms after T0); none: no result
    ack_ms: float | None = None  # default intended + 10
    sent_ms: float | None = None  # default intended + 1
    status: Status = Status.OK
    reason: Reason = Reason.NONE
    event_type: str = "order"
    version: int = 1
    http_status: int | None = None  # default 202 when ok, 503 when failed, else 0
    detail: str = ""  # the transport's failure text (events-<shard>.details)
    partition: int | None = None  # Kafka: an acked event's partition (kafka-offsets-<shard>.bin)


def write_run(run_dir: Path, events: Sequence[Ev], *, collector: bool = True, shard: int = 0,
              extra_results: Sequence[tuple[str, float]] = (), timeout_ms: float = 10_000,
              ended: bool = True, incomplete: Sequence[str] = (), host: str | None = "testhost",
              target: str = "http://127.0.0.1", transport: dict[str, Any] | None = None,
              collector_counts: dict[str, Any] | None = None) -> Path:
    """A run dir; `ended=False` leaves meta.json as a run that is still going (or was killed) has it.

    `transport` is RunMeta.transport; `collector_counts` is written as collector-<shard>.json.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    RunMeta(run_id=run_dir.name, command=["evtool"], options={}, tool_version="0", target=target,
            clock_origin_ns=T0, started_at="2026-01-01T00:00:00Z",
            collector="127.0.0.1:9000" if collector else None,
            result_timeout_ns=int(timeout_ms * MS), ended_at="2026-01-01T01:00:00Z" if ended else None,
            incomplete=list(incomplete), host=host, transport=dict(transport or {})).write(run_dir)
    writer = EventLogWriter(run_dir, shard)
    results = ResultLogWriter(run_dir, shard)
    offsets = []
    for e in events:
        sent = e.intended_ms + 1 if e.sent_ms is None else e.sent_ms
        ack = e.intended_ms + 10 if e.ack_ms is None else e.ack_ms
        ok = e.status == Status.OK
        http = e.http_status if e.http_status is not None else (
            202 if ok else (503 if e.status == Status.FAILED else 0))
        writer.append(key=correlation_key(e.key), event_type=e.event_type, schema_version=e.version,
                      intended_ns=T0 + int(e.intended_ms * MS),
                      sent_ns=T0 + int(sent * MS) if e.status != Status.DROPPED else 0,
                      ack_ns=T0 + int(ack * MS) if ok else 0, status=e.status, reason=e.reason,
                      http_status=http, attempts=1, detail=e.detail)
        if ok and e.partition is not None:
            offsets.append((correlation_key(e.key), len(offsets), (T0 + int(ack * MS)) // MS, e.partition, 1))
        for at in e.result_ms:
            results.append(correlation_key(e.key), T0 + int(at * MS))
    for key, at in extra_results:
        results.append(correlation_key(key), T0 + int(at * MS))
    writer.close()
    results.close()
    if offsets:
        rows = np.zeros(len(offsets), dtype=OFFSET_DTYPE)
        for row, (key, offset, ts_ms, partition, ts_type) in zip(rows, offsets, strict=True):
            row["key"], row["offset"], row["timestamp_ms"] = key, offset, ts_ms
            row["partition"], row["timestamp_type"] = partition, ts_type
        (run_dir / f"kafka-offsets-{shard}.bin").write_bytes(rows.tobytes())
    if collector_counts is not None:
        (run_dir / f"collector-{shard}.json").write_text(json.dumps(collector_counts), encoding="utf-8")
    return run_dir
