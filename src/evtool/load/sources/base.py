"""Result sources: where a run's downstream results come from (the HTTP collector, a Kafka topic).

A source stamps each result's arrival on this host's clock and appends it to the run log
through a `ResultLedger`, which also answers the one question the end of a run asks: have
all acknowledged events got a result yet? It counts *distinct matched* results (keys of
this run's acknowledged events); repeats, results of unacknowledged events and keys that are
not this run's (another run on the same topic, unknown ids) are counted apart and never
shorten the wait. The ledger learns what was acknowledged from the event log itself once
the dispatch is over (`expect`), so a source never needs to know what was sent while the
run is going on, and stays as cheap as appending a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import numpy as np
import numpy.typing as npt

from evtool.errors import InputError, UsageError
from evtool.results.runlog import (
    EVENT_DTYPE,
    RESULT_DTYPE,
    SEQ_BITS,
    SEQ_MASK,
    ResultLogWriter,
    Status,
    open_run,
)

FLUSH_EVERY_S = 0.05  # a 202 (or a consumed record) reaches the kernel within this bound
_CHUNK = 1 << 20
_WORDS = np.dtype([("high", ">u8"), ("low", ">u8")])  # a 16-byte key as its two UUID words


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """Where a run collects results: `--collect` as given (`host:port`, `http://host:port`, `kafka://...`)."""

    address: str
    correlate_by: str | None = None
    result_timeout_s: float = 10.0
    # the source's own typed options (Kafka: `targets.kafka.KafkaOptions` from [kafka] and -X,
    # of which the connection settings apply); None: its defaults. Holds no resolved secret.
    transport: Any = None

    def __post_init__(self) -> None:
        from evtool.load.sources import check_address

        check_address(self.address)


@dataclass(slots=True)
class SourceCounts:
    """What a source saw; written to ``collector-<shard>.json`` when it stops (the report reads it).

    ``results`` counts records appended to the run log. After the end-of-run wait they are
    split: ``matched`` (distinct keys of acknowledged events) + ``unacked`` (distinct keys of
    this run's events that were not acknowledged) + ``duplicates`` (repeats of either) +
    ``foreign`` (keys that are none of this run's events) = ``results``.
    """

    requests: int = 0
    results: int = 0
    uncorrelated: int = 0  # result events with no correlation value
    unreadable: int = 0  # bodies or records that were not JSON / not an event
    matched_to_run: bool = False  # the split below was made (not by a bare `evtool collect`)
    matched: int = 0
    unacked: int = 0
    duplicates: int = 0
    foreign: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # answered 4xx/5xx, by reason
    problems: dict[str, int] = field(default_factory=dict)  # one count per kind, never a traceback each
    notes: list[str] = field(default_factory=list)
    # what the source was, as it ran (Kafka: topic, group, partitions, start/next offsets, timestamp types)
    settings: dict[str, Any] = field(default_factory=dict)

    def problem(self, kind: str, count: int = 1) -> None:
        self.problems[kind] = self.problems.get(kind, 0) + count

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def write(self, run_dir: Path, shard: int) -> None:
        path = run_dir / f"collector-{shard}.json"
        with contextlib.suppress(OSError):  # a full disk is already a problem of its own
            path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    """How the end-of-run wait ended."""

    expected: int  # acknowledged events
    matched: int  # distinct results of acknowledged events received
    stopped: bool  # an interrupt (or a caller's stop) ended the wait early
    timed_out: bool

    @property
    def complete(self) -> bool:
        return self.matched >= self.expected


class ResultSource(Protocol):
    """A running result source: `async with` makes it ready (listening, positioned) before time zero."""

    @property
    def counts(self) -> SourceCounts: ...

    @property
    def description(self) -> str: ...

    @property
    def write_error(self) -> str | None:
        """The first write error of the results log: the run cannot stand behind its results."""

    async def expect(self, run_dir: Path) -> None:
        """Match what arrived and arrives against the acknowledged events logged in `run_dir`."""

    async def wait_for_results(self, timeout_s: float, stop: asyncio.Event | None = None) -> WaitOutcome:
        """Until every acknowledged event has a result, `timeout_s` passed or `stop` was set."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class RunIndex:
    """The events of a run as row indexes, to classify result keys in bulk.

    Structured ids (`runlog.EventIds`) carry their shard's scheme and sequence number: a key
    of a known scheme maps to ``offset + seq`` with a shift and a mask (a bitmap of seqs per
    shard). Any other key (replayed logs, ``--correlate-by`` paths) is found in one sorted
    array by binary search. ``state`` holds 0 (no event), 1 (logged, not acknowledged) or
    2 (acknowledged) per row.
    """

    NONE, UNACKED, ACKED = 0, 1, 2

    def __init__(self, schemes: dict[tuple[int, int], tuple[int, int]], others: npt.NDArray[np.void],
                 state: npt.NDArray[np.int8]) -> None:
        self._schemes = schemes  # (high, prefix) -> (row offset, rows)
        self._others = others  # sorted unique V16 keys, rows from `len(state) - len(others)`
        self.state = state
        self.acked = int((state == self.ACKED).sum())

    @classmethod
    def of_run(cls, run_dir: Path) -> RunIndex:
        """Read the event log's keys and statuses (chunk by chunk: a few columns of memory)."""
        try:
            files = open_run(run_dir).event_files
        except InputError:
            files = ()
        Piece = tuple[npt.NDArray[np.void], npt.NDArray[np.uint64], npt.NDArray[np.bool_]]
        seqs: dict[tuple[int, int], list[Piece]] = {}
        others: list[tuple[npt.NDArray[np.void], npt.NDArray[np.bool_]]] = []
        for shard in files:
            for chunk in shard.chunks(EVENT_DTYPE, _CHUNK):
                words = chunk["key"].copy().view(_WORDS)
                ok = chunk["status"] == Status.OK
                high, low = words["high"], words["low"]
                structured = (((high >> np.uint64(12)) & np.uint64(0xF)) == 8) & ((low >> np.uint64(62)) == 2)
                if structured.any():
                    h0, p0 = high[structured][0], low[structured][0] >> np.uint64(SEQ_BITS)
                    mine0 = structured & (high == h0) & ((low >> np.uint64(SEQ_BITS)) == p0)
                    if (mine0 == structured).all():  # the usual chunk: one shard's ids
                        candidates: Iterable[tuple[np.uint64, np.uint64]] = [(h0, p0)]
                    else:
                        pairs = np.stack([high[structured], low[structured] >> np.uint64(SEQ_BITS)], axis=1)
                        candidates = [(h, p) for h, p in np.unique(pairs, axis=0)]
                    for h, p in candidates:
                        mine = structured & (high == h) & ((low >> np.uint64(SEQ_BITS)) == p)
                        pieces = seqs.setdefault((int(h), int(p)), [])
                        pieces.append((chunk["key"][mine].copy(), low[mine] & np.uint64(SEQ_MASK), ok[mine]))
                if not structured.all():
                    others.append((chunk["key"][~structured].copy(), ok[~structured]))
        schemes: dict[tuple[int, int], tuple[int, int]] = {}
        parts: list[npt.NDArray[np.int8]] = []
        offset = 0
        for scheme, pieces in seqs.items():
            rows = int(max(int(s.max()) for _, s, _ in pieces)) + 1
            if rows > 4 * sum(len(s) for _, s, _ in pieces) + 1024:
                # sparse: not a shard of structured ids (a hashed key can look like one)
                others.extend((k, ok) for k, _, ok in pieces)
                continue
            state = np.zeros(rows, dtype=np.int8)
            for _, s, _ok in pieces:  # unacked first, so a key logged twice is acked if either was
                state[s.astype(np.intp)] = cls.UNACKED
            for _, s, ok in pieces:
                state[s[ok].astype(np.intp)] = cls.ACKED
            schemes[scheme] = (offset, rows)
            parts.append(state)
            offset += rows
        if others:
            keys = np.concatenate([k for k, _ in others])
            oks = np.concatenate([o for _, o in others])
            unique, inverse = np.unique(keys, return_inverse=True)
            state = np.full(len(unique), cls.UNACKED, dtype=np.int8)
            state[inverse[oks]] = cls.ACKED
            parts.append(state)
        else:
            unique = np.empty(0, dtype="V16")
        return cls(schemes, unique, np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8))

    def rows(self, keys: npt.NDArray[np.void]) -> npt.NDArray[np.intp]:
        """The row of each key, -1 for a key that is none of this run's events."""
        rows = np.full(len(keys), -1, dtype=np.intp)
        if not len(keys):
            return rows
        words = keys.view(_WORDS)
        high, low = words["high"], words["low"]
        found = np.zeros(len(keys), dtype=np.bool_)
        for (h, p), (offset, count) in self._schemes.items():
            mine = (high == np.uint64(h)) & ((low >> np.uint64(SEQ_BITS)) == np.uint64(p))
            seq = (low & np.uint64(SEQ_MASK)).astype(np.intp)
            mine &= seq < count
            rows[mine] = offset + seq[mine]
            found |= mine
        if len(self._others) and not found.all():
            rest = np.flatnonzero(~found)
            at = np.searchsorted(self._others, keys[rest])
            inside = at < len(self._others)
            hit = np.zeros(len(rest), dtype=np.bool_)
            hit[inside] = self._others[at[inside]] == keys[rest][inside]
            rows[rest[hit]] = len(self.state) - len(self._others) + at[hit]
        known = rows >= 0
        rows[known & (self.state[np.maximum(rows, 0)] == self.NONE)] = -1
        return rows


class ResultLedger:
    """Appends results to the run log and keeps the distinct-matched count the end-of-run wait needs."""

    def __init__(self, run_dir: Path, shard: int, counts: SourceCounts) -> None:
        self.run_dir = run_dir
        self.shard = shard
        self.counts = counts
        self._writer: ResultLogWriter | None = ResultLogWriter(run_dir, shard, flush_interval_s=FLUSH_EVERY_S)
        self._index: RunIndex | None = None
        self._seen: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._pending: list[bytes] | None = None  # keys not yet matched (only once `expect` was called)
        self._arrived = asyncio.Event()
        self.write_error: str | None = None
        self.failed = asyncio.Event()  # set at the first write error: a source stops taking results

    @property
    def writable(self) -> bool:
        return self._writer is not None and self.write_error is None

    def append(self, key: bytes, received_ns: int, broker_ns: int = 0) -> None:
        """Append one result (call `flush` before answering for it, or rely on the flush loop);
        `broker_ns` is the result record's own timestamp where the transport has one (Kafka)."""
        if self._writer is None:
            return
        self._writer.append(key, received_ns, broker_ns)
        if self._writer.error is not None:  # the append met a full disk: this result is not kept
            self._note_write_error()
            return
        self.counts.results += 1
        if self._pending is not None:
            self._pending.append(key)
            self._arrived.set()

    def extend(self, keys: Iterable[bytes], received_ns: int) -> None:
        for key in keys:
            self.append(key, received_ns)

    def flush(self) -> bool:
        """Hand buffered records to the kernel; False (and the reason kept) when the write failed."""
        if self._writer is None or self.write_error is not None:
            return self.write_error is None
        self._writer.flush()
        if self._writer.error is not None:  # the writer keeps its first error instead of raising
            self._note_write_error()
            return False
        return True

    def _note_write_error(self) -> None:
        error = self._writer.error if self._writer is not None else None
        if error is None or self.write_error is not None:
            return
        self.write_error = f"results log {self.run_dir / f'results-{self.shard}.bin'}: {error.strerror}"
        self.counts.problem(f"write error ({error.strerror})")
        self.failed.set()

    async def flush_periodically(self) -> None:
        while self._writer is not None:
            await asyncio.sleep(FLUSH_EVERY_S)
            self.flush()

    def close(self) -> None:
        if self._writer is None:
            return
        self.flush()
        with contextlib.suppress(OSError):
            self._writer.close()
        self._writer = None
        self.drain()

    # -- matching --------------------------------------------------------------------------

    async def expect(self, run_dir: Path) -> None:
        """Match results against the acknowledged events of `run_dir` (its event log is complete).

        The log is read in a thread, and so are the results that came before this call; what
        arrives meanwhile waits in `_pending`, so nothing is matched twice or missed.
        """
        index = await asyncio.to_thread(RunIndex.of_run, run_dir)
        self.flush()
        received = self.counts.results
        self._index = index
        self._seen = np.zeros(len(index.state), dtype=np.bool_)
        self.counts.matched = self.counts.unacked = self.counts.duplicates = self.counts.foreign = 0
        self.counts.matched_to_run = True
        self._pending = []
        if received:
            await asyncio.to_thread(self._match_logged, received)

    def _match_logged(self, count: int) -> None:
        path = self.run_dir / f"results-{self.shard}.bin"
        with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
            while count:
                n = min(count, _CHUNK)
                raw = handle.read(n * RESULT_DTYPE.itemsize)
                whole = len(raw) // RESULT_DTYPE.itemsize
                if whole:
                    records = np.frombuffer(raw, dtype=RESULT_DTYPE, count=whole)
                    self._match(records["key"])
                if whole < n:  # a failed flush: those records never reached the file
                    return
                count -= n

    @property
    def expected(self) -> int:
        return self._index.acked if self._index is not None else 0

    def drain(self) -> None:
        """Match the keys that arrived since the last call."""
        if self._pending:
            keys, self._pending = self._pending, []
            self._match(np.frombuffer(b"".join(keys), dtype="V16"))

    def _match(self, keys: npt.NDArray[np.void]) -> None:
        assert self._index is not None
        counts = self.counts
        rows = self._index.rows(keys)
        own = rows[rows >= 0]
        counts.foreign += len(rows) - len(own)
        own.sort()  # (np.unique hashes: ~50x slower than a sort for a million rows)
        distinct = own[np.concatenate(([True], own[1:] != own[:-1]))] if len(own) else own
        fresh = distinct[~self._seen[distinct]]
        counts.duplicates += len(own) - len(fresh)
        self._seen[fresh] = True
        acked = int((self._index.state[fresh] == RunIndex.ACKED).sum())
        counts.matched += acked
        counts.unacked += len(fresh) - acked

    async def wait_for_results(self, timeout_s: float, stop: asyncio.Event | None = None) -> WaitOutcome:
        if self._index is None:
            raise RuntimeError("expect() first: the wait matches against the run's acknowledged events")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            while True:
                self.drain()
                matched = self.counts.matched
                stopped = stop is not None and stop.is_set()
                left = deadline - loop.time()
                if matched >= self.expected or stopped or left <= 0:
                    missing = matched < self.expected
                    return WaitOutcome(self.expected, matched, stopped, missing and not stopped)
                self._arrived.clear()
                waiter = asyncio.ensure_future(self._arrived.wait())
                waiting = {waiter} if stopper is None else {waiter, stopper}
                await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        finally:
            if stopper is not None:
                stopper.cancel()


def check_run_dir(run_dir: Path, option: str = "--run-dir") -> None:
    """Create `run_dir` and make sure a file can be written in it: one clear line, not a traceback."""
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise UsageError(f"{option} {run_dir}: exists and is not a directory")
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".evtool-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{option} {run_dir}: cannot write there ({exc.strerror})",
                         hint="choose a writable directory") from None


