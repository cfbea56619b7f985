"""`audit_run`: judge one run directory's delivery, on the events topic and on the results.

What the run itself knows is the reference: every scheduled event's key and outcome
(`events-<shard>.bin`), and for a Kafka run the partition and offset of every message the
broker acknowledged (`kafka-offsets-<shard>.bin`, written by the Kafka target's delivery
reports, also for a message acknowledged after the grace period aborted it locally: such an
event counts as aborted in the latency report but as acknowledged, i.e. on the topic, here).
The topic and the results are compared with it by correlation key, in numpy: a sort per side,
no Python object per event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evtool.audit.topic import NO_SEQUENCE, TopicRecords, read_range
from evtool.errors import InputError, UsageError
from evtool.events.envelope import CloudEvent
from evtool.results.delivery import (
    EXAMPLES,
    Delivery,
    DeliveryAudit,
    Finding,
    ResultsAudit,
    TopicAudit,
    judge,
)
from evtool.results.runlog import (
    EVENT_DTYPE,
    OFFSET_DTYPE,
    OFFSETS_GLOB,
    RESULT_DTYPE,
    Outcome,
    correlation_key,
    open_run,
    outcomes,
)

KEY = np.dtype("V16")


@dataclass(slots=True)
class RunSide:
    """The run's own record of what it sent: keys (sorted), their shard and outcome, the acks."""

    keys: npt.NDArray[np.void]  # sorted
    shards: npt.NDArray[np.int32]
    outcome: npt.NDArray[np.uint8]
    acked: npt.NDArray[Any]  # OFFSET_DTYPE records, one per acknowledged message

    def find(self, keys: npt.NDArray[np.void]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Row of each key in `self.keys`, and whether it is there at all."""
        if not len(self.keys):
            return np.zeros(len(keys), dtype=np.intp), np.zeros(len(keys), dtype=bool)
        rows = np.searchsorted(self.keys, keys)
        rows = np.minimum(rows, len(self.keys) - 1)
        return rows, self.keys[rows] == keys


def load_run_side(run_dir: Path) -> tuple[Any, RunSide]:
    files = open_run(run_dir)
    keys: list[npt.NDArray[np.void]] = []
    shards: list[npt.NDArray[np.int32]] = []
    outcome: list[npt.NDArray[np.uint8]] = []
    for shard in files.event_files:
        for chunk in shard.chunks(EVENT_DTYPE, 1 << 20):
            keys.append(chunk["key"].copy())
            shards.append(np.full(len(chunk), shard.shard, dtype=np.int32))
            outcome.append(outcomes(chunk["status"], chunk["reason"]))
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=KEY)
    order = np.argsort(all_keys, kind="stable")
    acked = _read_offsets(run_dir)
    side = RunSide(
        keys=all_keys[order],
        shards=(np.concatenate(shards) if shards else np.zeros(0, dtype=np.int32))[order],
        outcome=(np.concatenate(outcome) if outcome else np.zeros(0, dtype=np.uint8))[order],
        acked=acked,
    )
    return files, side


def _read_offsets(run_dir: Path) -> npt.NDArray[Any]:
    parts = []
    for path in sorted(Path(run_dir).glob(OFFSETS_GLOB)):
        raw = path.read_bytes()
        whole = len(raw) // OFFSET_DTYPE.itemsize * OFFSET_DTYPE.itemsize
        parts.append(np.frombuffer(raw[:whole], dtype=OFFSET_DTYPE))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=OFFSET_DTYPE)


def _id_text(key: bytes) -> str:
    """An event id for the report: the UUID a structured key is, else the key in hex."""
    value = uuid.UUID(bytes=key)
    return str(value) if value.variant == uuid.RFC_4122 else key.hex()


def _examples(finding: Finding, keys: npt.NDArray[np.void], records: TopicRecords | None = None) -> None:
    """A few event ids of `keys`: as the topic spelled them when read there, else from the key."""
    for key in keys[:EXAMPLES]:
        text = ""
        if records is not None:
            at = np.flatnonzero(records.keys == key)
            text = records.ids[int(at[0])].decode("utf-8", "replace") if len(at) else ""
        finding.examples.append(text or _id_text(bytes(key)))


def _order_violations(groups: npt.NDArray[np.int64],
                      sequences: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which items (in arrival order) have a sequence below one seen earlier in their group."""
    n = len(groups)
    if n < 2:
        return np.zeros(n, dtype=bool)
    order = np.lexsort((np.arange(n), groups))  # by group, then arrival
    g = groups[order]
    _, rank = np.unique(sequences[order], return_inverse=True)  # dense ranks: group * n + rank fits int64
    combined = g * (n + 1) + rank.astype(np.int64)
    running = np.maximum.accumulate(combined)
    first_in_group = np.r_[True, g[1:] != g[:-1]]
    previous = np.r_[np.int64(-1), running[:-1]]
    late = (~first_in_group) & (combined < previous)
    out = np.zeros(n, dtype=bool)
    out[order] = late
    return out


def _group_codes(*columns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    stacked = np.stack(columns, axis=1)
    _, codes = np.unique(stacked, axis=0, return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def audit_topic(meta: Any, side: RunSide, *, servers: str | None, properties: dict[str, str],
                timeout_s: float) -> tuple[TopicAudit, TopicRecords]:
    transport = meta.transport or {}
    topic = str(transport.get("topic") or "")
    servers = servers or str(transport.get("bootstrap.servers") or "")
    if not topic or not servers:
        raise InputError(f"the run's meta.json names no Kafka topic or brokers (target {meta.target})",
                         hint="audit a run written by `evtool simulate --target kafka://…`")
    acked = side.acked
    bounds: dict[int, tuple[int, int]] = {}
    if len(acked):
        for partition in np.unique(acked["partition"]).tolist():
            chosen = acked["offset"][acked["partition"] == partition]
            bounds[int(partition)] = (int(chosen.min()), int(chosen.max()))
    correlate_by = (meta.options or {}).get("correlate_by")
    by_id = not correlate_by or correlate_by == "id"

    def key_of(event_id: str, event: CloudEvent | None) -> bytes:
        if event is None:
            return correlation_key(event_id)
        from evtool.load.plan import correlation_value

        return correlation_key(correlation_value(event, correlate_by))

    def is_ours(key: bytes) -> bool:
        return bool(side.find(np.frombuffer(key, dtype=KEY))[1][0])

    records = read_range(servers, topic, bounds, None if by_id else key_of, properties=properties,
                         needs_event=not by_id,
                         timeout_s=timeout_s, is_ours=is_ours)
    acked_keys = np.unique(acked["key"]) if len(acked) else np.zeros(0, dtype=KEY)
    rows, known = side.find(acked_keys)
    aborted = int(np.count_nonzero(known & (side.outcome[rows] == Outcome.ABORTED)))
    audit = TopicAudit(topic=topic, bootstrap=servers, acked=len(acked_keys), acked_aborted=aborted,
                       records_read=len(records.keys), read_s=records.read_s, partitions=records.ranges,
                       complete=records.complete, problems=list(records.problems))
    rows, ours = side.find(records.keys)
    audit.foreign = int(np.count_nonzero(~ours))
    mine = records.keys[ours]
    present, counts = np.unique(mine, return_counts=True)
    audit.present = len(present)
    missing = acked_keys[~np.isin(acked_keys, present)]
    audit.missing.count = len(missing)
    _examples(audit.missing, missing, records)
    unacked = present[~np.isin(present, acked_keys)]
    audit.unacked_present.count = len(unacked)
    _examples(audit.unacked_present, unacked, records)
    doubled = present[counts > 1]
    audit.duplicates.count = len(doubled)
    audit.extra_copies = int((counts[counts > 1] - 1).sum())
    _examples(audit.duplicates, doubled, records)
    # per-key order: the first copy of each event, in offset order per partition
    index = np.flatnonzero(ours)
    _, first = np.unique(records.keys[index], return_index=True)
    index = np.sort(index[first])
    keyed = index[(records.key_codes[index] >= 0) & (records.sequences[index] != NO_SEQUENCE)]
    audit.unkeyed = len(index) - len(keyed)
    if len(keyed):
        shard = side.shards[rows[keyed]].astype(np.int64)
        groups = _group_codes(records.partitions[keyed].astype(np.int64), records.key_codes[keyed], shard)
        order = np.lexsort((records.offsets[keyed], records.partitions[keyed]))
        keyed = keyed[order]
        late = _order_violations(groups[order], records.sequences[keyed])
        audit.order_violations.count = int(np.count_nonzero(late))
        _examples(audit.order_violations, records.keys[keyed[late]], records)
    return audit, records


def audit_results(files: Any, side: RunSide, records: TopicRecords | None) -> ResultsAudit | None:
    if not files.result_files:
        return None
    parts = [chunk.copy() for shard in files.result_files for chunk in shard.chunks(RESULT_DTYPE, 1 << 20)]
    results = np.concatenate(parts) if parts else np.zeros(0, dtype=RESULT_DTYPE)
    ok = side.keys[side.outcome == Outcome.OK]
    out = ResultsAudit(expected=len(ok), results=len(results))
    _, known = side.find(results["key"])
    out.unmatched = int(np.count_nonzero(~known))
    matched = results[known]
    keys, counts = np.unique(matched["key"], return_counts=True)
    is_ok = np.isin(keys, ok)
    out.with_result = int(np.count_nonzero(is_ok))
    out.unacked_with_result = int(np.count_nonzero(~is_ok))
    lost = ok[~np.isin(ok, keys)]
    out.lost.count = len(lost)
    _examples(out.lost, lost)
    doubled = keys[counts > 1]
    out.duplicated.count = len(doubled)
    out.extra_results = int((counts[counts > 1] - 1).sum())
    _examples(out.duplicated, doubled)
    if records is not None and len(records.keys) and len(matched):
        # per-key order of results: each event's first result, by arrival, against its sequence
        by_arrival = matched[np.argsort(matched["received_ns"], kind="stable")]
        _, first = np.unique(by_arrival["key"], return_index=True)
        firsts = by_arrival[np.sort(first)]
        topic_keys, topic_first = np.unique(records.keys, return_index=True)
        at = np.minimum(np.searchsorted(topic_keys, firsts["key"]), len(topic_keys) - 1)
        on_topic = topic_keys[at] == firsts["key"]
        source = topic_first[at[on_topic]]
        chosen = firsts[on_topic]
        codes = records.key_codes[source]
        sequences = records.sequences[source]
        keyed = (codes >= 0) & (sequences != NO_SEQUENCE)
        if keyed.any():
            shard_rows, _ = side.find(chosen["key"][keyed])
            groups = _group_codes(codes[keyed], side.shards[shard_rows].astype(np.int64))
            late = _order_violations(groups, sequences[keyed])
            out.order_violations.count = int(np.count_nonzero(late))
            _examples(out.order_violations, chosen["key"][keyed][late])
        out.order_judged = True
    return out


def audit_run(
    run_dir: Path,
    expect: Delivery = Delivery.EXACTLY_ONCE,
    *,
    servers: str | None = None,
    properties: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    read_topic: bool = True,
) -> DeliveryAudit:
    """Audit `run_dir` against `expect`; the caller writes it (`DeliveryAudit.write`)."""
    run_dir = Path(run_dir)
    files, side = load_run_side(run_dir)
    meta = files.meta
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    audit = DeliveryAudit(run_dir=str(run_dir), run_id=meta.run_id, expect=expect.value,
                          events=files.event_count, audited_at=now)
    if meta.ended_at is None:
        audit.incomplete.append("the run never ended cleanly (meta.json has no end): its log may lack events")
    audit.incomplete += list(meta.incomplete)
    on_kafka = (meta.transport or {}).get("transport") == "kafka"
    records: TopicRecords | None = None
    if on_kafka and read_topic:
        if not len(side.acked) and not any(Path(run_dir).glob(OFFSETS_GLOB)):
            raise InputError(f"{run_dir}: a Kafka run without kafka-offsets-*.bin files",
                             hint="the offsets are written by the Kafka target of this evtool version; "
                                  "run again to audit the topic")
        audit.topic, records = audit_topic(meta, side, servers=servers, properties=properties or {},
                                           timeout_s=timeout_s)
        if not audit.topic.complete:
            audit.incomplete += audit.topic.problems
    elif servers is not None and not on_kafka:
        raise UsageError(f"--broker: {run_dir} did not go to a Kafka topic (target {meta.target})")
    audit.results = audit_results(files, side, records)
    passed, why = judge(audit, expect)
    audit.reasons = why
    if passed is None:
        audit.verdict = "INCOMPLETE" if audit.incomplete else "NOT_MEASURABLE"
    else:
        audit.verdict = "PASS" if passed else "FAIL"
    return audit


__all__ = ["audit_results", "audit_run", "audit_topic", "load_run_side"]
