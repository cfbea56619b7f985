"""The run log: one fixed-size binary record per scheduled event, append-only, in shards.

Why binary and fixed-size: a report must read ten million records in seconds (numpy maps a
file of fixed records straight into columns: about 0.05 s for 10 M, against 4 s for JSONL),
a record is 56 bytes (10 M events are 560 MB), and a crash or kill -9 can only tear the last
record, which the reader recognises by the file length and skips.

A run directory holds:

- ``meta.json``           what was run (see `RunMeta`), written at start and rewritten at the end;
- ``events-<shard>.bin``  one `EVENT_DTYPE` record per scheduled event, one file per sender process;
- ``events-<shard>.types`` the event type names, line N naming type index N of that shard;
- ``events-<shard>.details`` why events failed, in the transport's own words (an HTTP reason, a
  Kafka error name and text): line N is the text of `detail` N of that shard (0: none);
- ``results-<shard>.bin`` one `RESULT_DTYPE` record per downstream result the collector received
  (with the record's broker timestamp when the source is Kafka, 0 otherwise).

Events and results are joined by a 16-byte correlation key (`correlation_key`), so the
collector writes what arrives without knowing what was sent, and the report does the matching.

**Structured event ids.** `simulate` gives its generated events ids from `EventIds`: RFC 9562
version 8 UUIDs whose 122 free bits hold a random 64-bit nonce (one per sender shard and run),
the shard number and the event's sequence number in its shard. The layout is a bijection, so
a key carries its own row address: the report maps a result straight to its event (an inverse
permutation, no sort), and falls back to a hash join for any other key (replayed logs,
`--correlate-by data.order_id`, results of `evtool collect`). Nothing extra is recorded: a
shard's (nonce, shard) pair is read from its own records, so old logs read as before.

**Aborted events.** The end of a run (duration over, Ctrl-C) cuts off events: never sent
(DROPPED + CANCELLED) or in flight (FAILED + CANCELLED). The disk format keeps those two
encodings (FORMAT_VERSION 1, readable by older readers); `outcomes` classifies them as
`Outcome.ABORTED`, so every reader counts scheduled = ok + failed + dropped + aborted.
Events a sender had not reached by the run's planned end are DROPPED + BEHIND_SCHEDULE.

**What a kill -9 loses.** A record is appended when its event's outcome is known; appends reach
the OS within `FLUSH_INTERVAL_S` (50 ms, a timer on the running loop), so kill -9 loses the last
~50 ms of records plus the requests in flight (measured: benchmarks/bench_kill9.py). A write
error stops the run (`LogWriteError`); the file then ends at the last whole record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from evtool.errors import InputError, LogWriteError

META_FILE = "meta.json"
FORMAT_VERSION = 1
UNKNOWN_TYPE = 0xFFFF  # `type` of a record read whole whose type index its shard's .types lacks


class Status(IntEnum):
    OK = 1  # sent and acknowledged with a 2xx (or written, for file targets)
    FAILED = 2  # sent, but the target answered non-2xx or the request failed (see Reason)
    DROPPED = 3  # never sent (see Reason)


class Reason(IntEnum):
    NONE = 0
    HTTP_STATUS = 1  # non-2xx answer; the code is in http_status
    TIMEOUT = 2
    CONNECT = 3  # connection refused / reset / DNS
    TLS = 4
    PROTOCOL = 5  # malformed answer, disconnect mid-response
    TRANSPORT = 6  # the transport named the error (e.g. a Kafka error); its text is the record's `detail`
    MAX_IN_FLIGHT = 10  # the in-flight cap was reached at the intended send time
    CANCELLED = 11  # the run ended (Ctrl-C, duration over) before the event could be sent
    QUEUE_FULL = 12  # the client's local send queue was full at the intended send time (never delayed)
    BEHIND_SCHEDULE = 13  # the sender had not reached the event by the run's planned end (dropped)
    OTHER = 255


class Outcome(IntEnum):
    """Where a scheduled event ended up, as every reader counts it (0: a damaged record)."""

    OK = 1  # acknowledged (the report may still find it lost: no result by the timeout)
    FAILED = 2
    DROPPED = 3  # never sent, for a reason other than the end of the run
    ABORTED = 4  # cut off by the end of the run: never sent, or in flight (see sent_ns)


def _outcome_table() -> npt.NDArray[np.uint8]:
    table = np.zeros(256 * 256, dtype=np.uint8)
    for status in Status:
        table[status * 256 : status * 256 + 256] = status
    table[Status.FAILED * 256 + Reason.CANCELLED] = Outcome.ABORTED
    table[Status.DROPPED * 256 + Reason.CANCELLED] = Outcome.ABORTED
    return table


OUTCOME_BY_CODE = _outcome_table()  # indexed by status << 8 | reason (see `status_codes`); read-only
OUTCOME_BY_CODE.flags.writeable = False


def status_codes(status: npt.NDArray[Any], reason: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """`status << 8 | reason` of every record: one small integer for bincount and `OUTCOME_BY_CODE`."""
    code = status.astype(np.intp)
    code <<= 8
    code |= reason
    return code


def outcomes(status: npt.NDArray[Any], reason: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """`Outcome` of every record from its status and reason columns (0 for an unknown status)."""
    return OUTCOME_BY_CODE[status_codes(status, reason)]


EVENT_DTYPE = np.dtype(
    [
        ("key", "V16"),
        ("intended_ns", "<i8"),
        ("sent_ns", "<i8"),  # 0 when never sent
        ("ack_ns", "<i8"),  # 0 when never acknowledged
        ("type", "<u2"),
        ("schema_version", "<u2"),
        ("status", "u1"),
        ("reason", "u1"),
        ("http_status", "<u2"),
        ("attempts", "u1"),
        ("detail", "<u2"),  # 1-based line of events-<shard>.details; 0 (older logs too) when none
        ("_pad", "V5"),
    ]
)
_EVENT_STRUCT = struct.Struct("<16sqqqHHBBHBH5x")
assert _EVENT_STRUCT.size == EVENT_DTYPE.itemsize == 56

RESULT_DTYPE = np.dtype(
    [
        ("key", "V16"),
        ("received_ns", "<i8"),  # when this host saw the result (the run clock)
        # the result record's own time from its transport, in ns: a Kafka record's timestamp
        # (CreateTime or LogAppendTime, ms resolution); 0 when unknown (HTTP, older logs: padding)
        ("broker_ns", "<i8"),
    ]
)
_RESULT_STRUCT = struct.Struct("<16sqq")
assert _RESULT_STRUCT.size == RESULT_DTYPE.itemsize == 32


def correlation_key(value: str) -> bytes:
    """16 bytes that identify a correlation value: a UUID's own bytes, else a BLAKE2b digest."""
    try:
        return uuid.UUID(value).bytes
    except ValueError:
        return hashlib.blake2b(value.encode(), digest_size=16).digest()


# -- structured event ids (RFC 9562 version 8) ------------------------------------------------
#
# bits 127-80 nonce[63:16] | 79-76 version 8 | 75-64 nonce[15:4] | 63-62 variant 0b10 |
# 61-58 nonce[3:0] | 57-42 shard | 41-0 sequence number. As two big-endian 64-bit words: the high
# word depends only on the nonce, the low word is `prefix << SEQ_BITS | sequence`.
SEQ_BITS = 42
SHARD_BITS = 16
SEQ_MASK = (1 << SEQ_BITS) - 1


@dataclass(frozen=True, slots=True)
class IdScheme:
    """The constant part of one shard's structured ids: the high word and the low word's prefix."""

    high: int
    prefix: int

    @classmethod
    def of(cls, nonce: int, shard: int) -> IdScheme:
        if not 0 <= shard < 1 << SHARD_BITS:
            raise ValueError(f"shard {shard} does not fit {SHARD_BITS} bits")
        nonce &= (1 << 64) - 1
        high = (nonce >> 16) << 16 | 0x8 << 12 | (nonce >> 4) & 0xFFF
        prefix = 0b10 << 20 | (nonce & 0xF) << 16 | shard
        return cls(high, prefix)

    @classmethod
    def of_key(cls, key: bytes) -> IdScheme | None:
        """The scheme of a structured key, None for any other (a UUIDv4, a hashed value ...)."""
        high = int.from_bytes(key[:8], "big")
        low = int.from_bytes(key[8:16], "big")
        if (high >> 12) & 0xF != 0x8 or low >> 62 != 0b10:
            return None
        return cls(high, low >> SEQ_BITS)

    def key(self, seq: int) -> bytes:
        return self.high.to_bytes(8, "big") + (self.prefix << SEQ_BITS | seq).to_bytes(8, "big")


class EventIds:
    """Structured, unique CloudEvents ids for the events of one sender shard, in plan order."""

    def __init__(self, shard: int, nonce: int | None = None) -> None:
        self.scheme = IdScheme.of(secrets.randbits(64) if nonce is None else nonce, shard)
        high = f"{self.scheme.high:016x}"
        self._head = f"{high[:8]}-{high[8:12]}-{high[12:16]}-"
        self._low = self.scheme.prefix << SEQ_BITS
        self._high_bytes = self.scheme.high.to_bytes(8, "big")
        self.next_seq = 0

    def next(self) -> tuple[str, bytes]:
        """The next id and its correlation key (the UUID's 16 bytes, as `correlation_key` gives)."""
        seq = self.next_seq
        if seq > SEQ_MASK:
            raise OverflowError("more than 2**42 events in one shard")
        self.next_seq = seq + 1
        low = self._low | seq
        text = f"{low:016x}"
        return self._head + text[:4] + "-" + text[4:], self._high_bytes + low.to_bytes(8, "big")


def key_words(records: npt.NDArray[Any]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The two 8-byte halves of each record's `key` in memory order, as strided views (no copy).

    Read little-endian: compare them with `to_words` of a key, or byteswap for the UUID words.
    """
    fields = records.dtype.fields
    assert fields is not None
    offset = int(fields["key"][1])
    halves = np.dtype({"names": ["k0", "k1"], "formats": ["<u8", "<u8"], "offsets": [offset, offset + 8],
                       "itemsize": records.dtype.itemsize})
    view = records.view(halves)
    return view["k0"], view["k1"]


@dataclass(slots=True)
class RunMeta:
    """What a run was: enough to reproduce it and to interpret its records."""

    run_id: str
    command: list[str]  # argv with secrets redacted
    options: dict[str, Any]  # with secrets redacted
    tool_version: str
    target: str
    clock_origin_ns: int  # wall-clock ns at the run's time zero; record times are wall-clock ns
    started_at: str  # ISO 8601 UTC
    workers: int = 1
    collector: str | None = None  # "host:port" when results were collected
    correlate_by: str | None = None
    result_timeout_ns: int | None = None
    ended_at: str | None = None  # None after start: the run has not ended cleanly (yet), e.g. kill -9
    interrupted: bool = False
    # why the run cannot stand behind its numbers (a log write error, input cut short, ...);
    # any entry, like a missing `ended_at`, makes the verdict INCOMPLETE
    incomplete: list[str] = field(default_factory=list)
    # the transport's settings as it ran (e.g. Kafka's acks, idempotence, linger, compression); no secrets
    transport: dict[str, Any] = field(default_factory=dict)
    # --abort-on-fail ended the run: {"objective": "p99<=2s", "at_s": 12.3, "reason": "..."}; a FAIL
    abort: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION
    notes: list[str] = field(default_factory=list)
    # the machine that wrote the run: a report blames clocks only when two hosts were involved
    # (None: unknown, a run written before evtool recorded it)
    host: str | None = field(default_factory=socket.gethostname)
    # the scenario file the run came from (`evtool run` / `simulate --scenario`): its path, the effective
    # scenario (secrets redacted), which options the command line overrode, and `sha256` of it
    scenario: dict[str, Any] | None = None
    # `--segment I/N`: this run is segment I of N of one scenario (the one `scenario_hash` names);
    # `latency-report` merges segments only when they are disjoint, complete and of one scenario
    segment: str | None = None
    scenario_hash: str | None = None
    start_at: str | None = None  # `--start-at`: the instant every segment's time zero was set to
    # the clock result-seen times were stamped on (`results.clock_offset.CollectorClock`): "local" for
    # --collect; for --remote-collector the measured offset to it, its bound, exchanges and drift
    collector_clock: dict[str, Any] | None = None
    # `--segment A:B` / `--segment-sequence`: the points the scenario is split at ("0,1/4,1/2,1"; for
    # `--segment I/N` the equal sequence); None in runs written before it was recorded (I/N: equal)
    segment_sequence: str | None = None

    def write(self, run_dir: Path) -> None:
        """Atomically (write then rename), so a reader never sees half a meta file."""
        tmp = run_dir / f".{META_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, run_dir / META_FILE)

    @classmethod
    def read(cls, run_dir: Path) -> RunMeta:
        path = run_dir / META_FILE
        if not path.is_file():
            raise InputError(
                f"{run_dir}: not a run directory (no {META_FILE})",
                hint="pass a directory written by `evtool simulate`, `replay` or `collect`",
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            known.setdefault("host", None)  # not this machine's name: an older run's host is unknown
            return cls(**known)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InputError(f"{path}: damaged run metadata: {exc}") from None


FLUSH_INTERVAL_S = 0.05  # the most a kill -9 loses of what was appended (see `_ShardFile`)


class _ShardFile:
    """An append-only binary file whose appends reach the OS within `flush_interval_s`.

    Why a timer and not only a check on write: a run that goes quiet (the last sends, the wait
    for late results) writes nothing that would trigger a flush, so kill -9 would lose whatever
    sat in the buffer. The first append into an empty buffer arms one `call_later` on the running
    loop (outside a loop: the check on write only); the hot path is a bytearray append.

    A write error (disk full, file size limit) is never raised from an append or a timer: the
    first one is kept in `error`, reported once to `on_error`, and later appends are discarded
    (the log ends at the last whole record before the error; the run must stop).
    """

    def __init__(self, path: Path, flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.path = path
        try:
            self._file: BinaryIO = path.open("ab", buffering=0)
        except OSError as exc:
            raise LogWriteError(f"run log {path}: cannot create it ({exc.strerror or exc})") from None
        self._buffer = bytearray()
        self._flush_interval_s = flush_interval_s
        self._flush_interval_ns = int(flush_interval_s * 1e9)
        self._last_flush = time.monotonic_ns()
        self._timer: asyncio.TimerHandle | None = None
        self.error: LogWriteError | None = None
        self.on_error: Callable[[LogWriteError], None] | None = None

    def write(self, data: bytes | memoryview) -> None:
        if self.error is not None:
            return
        buffer = self._buffer
        if not buffer and self._timer is None:
            self._arm()
        buffer += data
        if len(buffer) >= 1 << 16 or time.monotonic_ns() - self._last_flush >= self._flush_interval_ns:
            self.flush()

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self._flush_interval_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        buffer = self._buffer
        if buffer and self.error is None:
            try:
                done = self._file.write(buffer) or 0
                while done < len(buffer):  # a raw write may be short (the disk filling up): write the rest
                    done += self._file.write(buffer[done:]) or 0
            except OSError as exc:
                self._fail(exc)
        buffer.clear()
        self._last_flush = time.monotonic_ns()

    def fail(self, exc: OSError, path: Path | None = None) -> None:
        """Record a write error met outside this file (the shard's `.types` file)."""
        self._fail(exc, path)

    def _fail(self, exc: OSError, path: Path | None = None) -> None:
        if self.error is not None:
            return
        self.error = LogWriteError(
            f"run log {path or self.path}: cannot write ({exc.strerror or exc}); the run stopped there",
            hint="free space on that filesystem (or raise its limits) and run again",
            strerror=exc.strerror or str(exc),
        )
        if self.on_error is not None:
            self.on_error(self.error)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        self._file.close()


class EventLogWriter:
    """Appends event records for one sender process; they reach the OS within `flush_interval_s`."""

    def __init__(self, run_dir: Path, shard: int = 0, *, flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._records = _ShardFile(run_dir / f"events-{shard}.bin", flush_interval_s)
        self._types_path = run_dir / f"events-{shard}.types"
        self._type_index: dict[str, int] = {}
        self._details_path = run_dir / f"events-{shard}.details"
        self._detail_index: dict[str, int] = {"": 0}
        self.written = 0

    def type_index(self, event_type: str) -> int:
        index = self._type_index.get(event_type)
        if index is None:
            index = len(self._type_index)
            self._type_index[event_type] = index
            try:
                with self._types_path.open("a", encoding="utf-8") as handle:
                    handle.write(event_type + "\n")
            except OSError as exc:
                self._records.fail(exc, self._types_path)
        return index

    def detail_index(self, text: str) -> int:
        """The `detail` number of a failure text (0 for none), appended to the shard's table when new."""
        index = self._detail_index.get(text)
        if index is None:
            if len(self._detail_index) > 0xFFFF:
                return 0xFFFF  # the table is full; the last line says so
            index = len(self._detail_index)
            self._detail_index[text] = index
            line = text.replace("\n", " ") if index < 0xFFFF else "(more failure texts than are kept)"
            try:
                with self._details_path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError as exc:
                self._records.fail(exc, self._details_path)
        return index

    @property
    def error(self) -> LogWriteError | None:
        """The first write error of this shard (then nothing more is written)."""
        return self._records.error

    def on_error(self, callback: Callable[[LogWriteError], None]) -> None:
        """Call `callback` once, at the first write error (from an append, a flush or the timer)."""
        self._records.on_error = callback

    def append(
        self,
        *,
        key: bytes,
        event_type: str,
        schema_version: int,
        intended_ns: int,
        sent_ns: int,
        ack_ns: int,
        status: Status,
        reason: Reason = Reason.NONE,
        http_status: int = 0,
        attempts: int = 0,
        detail: str = "",
    ) -> None:
        self._records.write(
            _EVENT_STRUCT.pack(
                key,
                intended_ns,
                sent_ns,
                ack_ns,
                self.type_index(event_type),
                schema_version,
                status,
                reason,
                http_status,
                min(attempts, 255),
                self.detail_index(detail) if detail else 0,
            )
        )
        self.written += 1

    def append_records(self, records: npt.NDArray[Any]) -> None:
        """Append ready-made `EVENT_DTYPE` records in one write (a replayed batch's events);
        their `type` column must hold indexes from `type_index`."""
        if records.dtype != EVENT_DTYPE:
            raise TypeError(f"records must have EVENT_DTYPE, not {records.dtype}")
        self._records.write(records.tobytes())
        self.written += len(records)

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()


class ResultLogWriter:
    """Appends one record per downstream result received by the collector."""

    def __init__(self, run_dir: Path, shard: int = 0, *, flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._records = _ShardFile(run_dir / f"results-{shard}.bin", flush_interval_s)
        self.written = 0

    @property
    def error(self) -> LogWriteError | None:
        """The first write error (then nothing more is written; the collector should stop taking results)."""
        return self._records.error

    def on_error(self, callback: Callable[[LogWriteError], None]) -> None:
        """Call `callback` once, at the first write error (from an append, a flush or the timer)."""
        self._records.on_error = callback

    def append(self, key: bytes, received_ns: int, broker_ns: int = 0) -> None:
        self._records.write(_RESULT_STRUCT.pack(key, received_ns, broker_ns))
        self.written += 1

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()


@dataclass(frozen=True, slots=True)
class ShardFile:
    """One `events-<shard>.bin` or `results-<shard>.bin` file: its whole records and torn tail."""

    path: Path
    shard: int
    count: int  # whole records
    torn_bytes: int
    types: tuple[str, ...] = ()  # event files: the names of type index 0, 1, ... of this shard
    details: tuple[str, ...] = ()  # event files: the text of `detail` 1, 2, ... of this shard

    def chunks(self, dtype: np.dtype[Any], chunk_records: int) -> Iterator[npt.NDArray[Any]]:
        """The records in order, `chunk_records` at a time, read into one reused buffer.

        Why one buffer: a report streams a run of any size in a fixed amount of memory. The
        array yielded is overwritten by the next chunk; copy what must outlive it.
        """
        if not self.count:
            return
        buffer = np.empty(min(self.count, chunk_records), dtype=dtype)
        raw = buffer.view(np.uint8)
        left = self.count
        with self.path.open("rb", buffering=0) as handle:
            while left:
                n = min(left, len(buffer))
                got = handle.readinto(raw[: n * dtype.itemsize].data)
                if got != n * dtype.itemsize:
                    raise InputError(f"{self.path}: file shrank while it was read")
                left -= n
                yield buffer[:n]


@dataclass(frozen=True, slots=True)
class RunFiles:
    """A run directory opened for streaming: metadata, files and record counts, no record read."""

    path: Path
    meta: RunMeta
    event_files: tuple[ShardFile, ...]
    result_files: tuple[ShardFile, ...]

    @property
    def skipped_bytes(self) -> int:
        return sum(f.torn_bytes for f in (*self.event_files, *self.result_files))

    @property
    def event_count(self) -> int:
        return sum(f.count for f in self.event_files)

    @property
    def result_count(self) -> int:
        return sum(f.count for f in self.result_files)


_SHARD_RE = re.compile(r"^(events|results)-(\d+)\.bin$")


def open_run(run_dir: Path) -> RunFiles:
    """The run at `run_dir`, shards in shard order (InputError when it is not a run)."""
    run_dir = Path(run_dir)
    meta = RunMeta.read(run_dir)
    found: dict[str, list[tuple[int, Path]]] = {"events": [], "results": []}
    for path in run_dir.iterdir():
        match = _SHARD_RE.match(path.name)
        if match:
            found[match.group(1)].append((int(match.group(2)), path))
    files: dict[str, list[ShardFile]] = {"events": [], "results": []}
    for kind, dtype in (("events", EVENT_DTYPE), ("results", RESULT_DTYPE)):
        for shard, path in sorted(found[kind]):
            size = path.stat().st_size
            types: tuple[str, ...] = ()
            details: tuple[str, ...] = ()
            if kind == "events":
                names_path = path.with_suffix(".types")
                if names_path.exists():
                    types = tuple(names_path.read_text(encoding="utf-8").splitlines())
                details_path = path.with_suffix(".details")
                if details_path.exists():
                    details = tuple(details_path.read_text(encoding="utf-8").splitlines())
            count = size // dtype.itemsize
            files[kind].append(ShardFile(path, shard, count, size - count * dtype.itemsize, types, details))
    return RunFiles(run_dir, meta, tuple(files["events"]), tuple(files["results"]))


@dataclass(slots=True)
class RunLog:
    """A whole run read back: every shard's records as numpy columns."""

    meta: RunMeta
    events: npt.NDArray[Any]  # EVENT_DTYPE, `type` remapped to indexes into `types`
    results: npt.NDArray[Any]  # RESULT_DTYPE
    types: list[str]
    skipped_bytes: int  # torn tails of shards after a crash
    blocks: list[tuple[int, int, int]] = field(default_factory=list)  # (shard, start, stop) of events

    @property
    def type_names(self) -> npt.NDArray[Any]:
        return np.asarray(self.types, dtype=object)


def read_run(run_dir: Path) -> RunLog:
    """Read every shard of a run; a torn last record of a shard is skipped and counted, a
    record naming a type its shard lacks gets `UNKNOWN_TYPE` (the report counts it damaged).

    Shards are read straight into one preallocated array: concatenating per-shard arrays
    would hold every record twice (about 1 GB more at ten million events). A report does
    not call this: it streams the files (`open_run`) and keeps only the columns it needs.
    """
    files = open_run(run_dir)
    events = _read_all(files.event_files, EVENT_DTYPE)
    types: list[str] = []
    global_index: dict[str, int] = {}
    blocks: list[tuple[int, int, int]] = []
    start = 0
    for shard in files.event_files:
        stop = start + shard.count
        blocks.append((shard.shard, start, stop))
        mapping = np.zeros(max(len(shard.types), 1), dtype=np.uint16)
        for local, name in enumerate(shard.types):
            if name not in global_index:
                global_index[name] = len(types)
                types.append(name)
            mapping[local] = global_index[name]
        column = events["type"][start:stop]
        if len(column):
            # a type index the .types file does not name marks a damaged record (garbage in the
            # log): it keeps an index no type has, and the report skips and counts it
            unknown = column >= len(shard.types)
            events["type"][start:stop] = mapping[np.where(unknown, 0, column)]
            if unknown.any():
                events["type"][start:stop][unknown] = UNKNOWN_TYPE
        start = stop
    results = _read_all(files.result_files, RESULT_DTYPE)
    return RunLog(meta=files.meta, events=events, results=results, types=types,
                  skipped_bytes=files.skipped_bytes, blocks=blocks)


def _read_all(files: tuple[ShardFile, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """All whole records of `files` in one array."""
    records = np.empty(sum(f.count for f in files), dtype=dtype)
    raw = records.view(np.uint8)
    start = 0
    for shard in files:
        with shard.path.open("rb") as handle:
            handle.readinto(raw[start * dtype.itemsize : (start + shard.count) * dtype.itemsize].data)
        start += shard.count
    return records


def failure_details(run_dir: Path) -> dict[str, int]:
    """Events per failure text over all shards ("MSG_SIZE_TOO_LARGE: Broker: Message size too large": 3)."""
    counts: dict[str, int] = {}
    for shard in open_run(run_dir).event_files:
        if not shard.details:
            continue
        for chunk in shard.chunks(EVENT_DTYPE, 1 << 20):
            found = np.bincount(chunk["detail"].astype(np.intp), minlength=len(shard.details) + 1)
            for index in np.flatnonzero(found[1:]).tolist():
                text = shard.details[index] if index < len(shard.details) else f"detail {index + 1}"
                counts[text] = counts.get(text, 0) + int(found[index + 1])
    return counts


# -- Kafka side files -------------------------------------------------------------------------
# `kafka-offsets-<shard>.bin`: one record per event the broker acknowledged (the Kafka target
# writes them; a later audit of the topic and the report's "partitions touched" read them).
OFFSET_DTYPE = np.dtype(
    [
        ("key", "V16"),  # the event's correlation key, as in events-<shard>.bin
        ("offset", "<i8"),
        ("timestamp_ms", "<i8"),  # the record's Kafka timestamp (CreateTime or LogAppendTime)
        ("partition", "<i4"),
        ("timestamp_type", "u1"),  # 1 CreateTime, 2 LogAppendTime (librdkafka's TIMESTAMP_*)
        ("_pad", "V3"),
    ]
)
OFFSETS_GLOB = "kafka-offsets-*.bin"


def partition_counts(run_dir: Path, chunk_records: int = 1 << 16) -> dict[int, int]:
    """Acknowledged events per partition from the run's offsets files ({} for a run not on Kafka).

    Read in chunks (only the partition column is kept), whole records only: a torn tail is skipped.
    """
    counts: dict[int, int] = {}
    size = OFFSET_DTYPE.itemsize
    for path in sorted(Path(run_dir).glob(OFFSETS_GLOB)):
        with path.open("rb") as handle:
            while raw := handle.read(chunk_records * size):
                whole = len(raw) // size
                if not whole:
                    break
                column = np.frombuffer(raw, dtype=OFFSET_DTYPE, count=whole)["partition"]
                values, found = np.unique(column, return_counts=True)
                for partition, n in zip(values.tolist(), found.tolist(), strict=True):
                    counts[int(partition)] = counts.get(int(partition), 0) + int(n)
    return dict(sorted(counts.items()))
