"""Run directories written record by record, with exactly the latencies a test wants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evtool.results.runlog import (
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


def write_run(run_dir: Path, events: Sequence[Ev], *, collector: bool = True, shard: int = 0,
              extra_results: Sequence[tuple[str, float]] = (), timeout_ms: float = 10_000,
              ended: bool = True, incomplete: Sequence[str] = (), host: str | None = "testhost") -> Path:
    """A run dir; `ended=False` leaves meta.json as a run that is still going (or was killed) has it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    RunMeta(run_id=run_dir.name, command=["evtool"], options={}, tool_version="0", target="http://127.0.0.1",
            clock_origin_ns=T0, started_at="2026-01-01T00:00:00Z",
            collector="127.0.0.1:9000" if collector else None,
            result_timeout_ns=int(timeout_ms * MS), ended_at="2026-01-01T01:00:00Z" if ended else None,
            incomplete=list(incomplete), host=host).write(run_dir)
    writer = EventLogWriter(run_dir, shard)
    results = ResultLogWriter(run_dir, shard)
    for e in events:
        sent = e.intended_ms + 1 if e.sent_ms is None else e.sent_ms
        ack = e.intended_ms + 10 if e.ack_ms is None else e.ack_ms
        ok = e.status == Status.OK
        writer.append(key=correlation_key(e.key), event_type=e.event_type, schema_version=e.version,
                      intended_ns=T0 + int(e.intended_ms * MS),
                      sent_ns=T0 + int(sent * MS) if e.status != Status.DROPPED else 0,
                      ack_ns=T0 + int(ack * MS) if ok else 0, status=e.status, reason=e.reason,
                      http_status=202 if ok else (503 if e.status == Status.FAILED else 0), attempts=1)
        for at in e.result_ms:
            results.append(correlation_key(e.key), T0 + int(at * MS))
    for key, at in extra_results:
        results.append(correlation_key(key), T0 + int(at * MS))
    writer.close()
    results.close()
    return run_dir
