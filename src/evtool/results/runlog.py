"""The run log: one fixed-size binary record per scheduled event, append-only, in shards.

Why binary and fixed-size: a report must read ten million records in seconds (numpy maps a
file of fixed records straight into columns: about 0.05 s for 10 M, against 4 s for JSONL),
a record is 56 bytes (10 M events are 560 MB), and a crash or kill -9 can only tear the last
record, which the reader recognises by the file length and skips.

A run directory holds:

- ``meta.json``           what was run (see `RunMeta`), written at start and rewritten at the end;
- ``events-<shard>.bin``  one `EVENT_DTYPE` record per scheduled event, one file per sender process;
- ``events-<shard>.types`` the event type names, line N naming type index N of that shard;
- ``results-<shard>.bin`` one `RESULT_DTYPE` record per downstream result the collector received.

Events and results are joined by a 16-byte correlation key (`correlation_key`), so the
collector writes what arrives without knowing what was sent, and the report does the matching.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from evtool.errors import InputError

META_FILE = "meta.json"
FORMAT_VERSION = 1


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
    MAX_IN_FLIGHT = 10  # the in-flight cap was reached at the intended send time
    CANCELLED = 11  # the run ended (Ctrl-C, duration over) before the event could be sent
    OTHER = 255


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
        ("_pad", "V7"),
    ]
)
_EVENT_STRUCT = struct.Struct("<16sqqqHHBBHB7x")
assert _EVENT_STRUCT.size == EVENT_DTYPE.itemsize == 56

RESULT_DTYPE = np.dtype([("key", "V16"), ("received_ns", "<i8"), ("_pad", "V8")])
_RESULT_STRUCT = struct.Struct("<16sq8x")
assert _RESULT_STRUCT.size == RESULT_DTYPE.itemsize == 32


def correlation_key(value: str) -> bytes:
    """16 bytes that identify a correlation value: a UUID's own bytes, else a BLAKE2b digest."""
    try:
        return uuid.UUID(value).bytes
    except ValueError:
        return hashlib.blake2b(value.encode(), digest_size=16).digest()


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
    ended_at: str | None = None
    interrupted: bool = False
    format_version: int = FORMAT_VERSION
    notes: list[str] = field(default_factory=list)

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
            return cls(**known)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InputError(f"{path}: damaged run metadata: {exc}") from None


class _ShardFile:
    """An append-only binary file that flushes to the OS at least every `flush_interval_s`."""

    def __init__(self, path: Path, flush_interval_s: float) -> None:
        self._file: BinaryIO = path.open("ab", buffering=0)
        self._buffer = bytearray()
        self._flush_interval_ns = int(flush_interval_s * 1e9)
        self._last_flush = time.monotonic_ns()

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= 1 << 16 or time.monotonic_ns() - self._last_flush >= self._flush_interval_ns:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._file.write(self._buffer)
            self._buffer.clear()
        self._last_flush = time.monotonic_ns()

    def close(self) -> None:
        self.flush()
        self._file.close()


class EventLogWriter:
    """Appends event records for one sender process; call `flush` from a timer as well."""

    def __init__(self, run_dir: Path, shard: int = 0, *, flush_interval_s: float = 0.5) -> None:
        self._records = _ShardFile(run_dir / f"events-{shard}.bin", flush_interval_s)
        self._types_path = run_dir / f"events-{shard}.types"
        self._type_index: dict[str, int] = {}
        self.written = 0

    def type_index(self, event_type: str) -> int:
        index = self._type_index.get(event_type)
        if index is None:
            index = len(self._type_index)
            self._type_index[event_type] = index
            with self._types_path.open("a", encoding="utf-8") as handle:
                handle.write(event_type + "\n")
        return index

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
            )
        )
        self.written += 1

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()


class ResultLogWriter:
    """Appends one record per downstream result received by the collector."""

    def __init__(self, run_dir: Path, shard: int = 0, *, flush_interval_s: float = 0.5) -> None:
        self._records = _ShardFile(run_dir / f"results-{shard}.bin", flush_interval_s)
        self.written = 0

    def append(self, key: bytes, received_ns: int) -> None:
        self._records.write(_RESULT_STRUCT.pack(key, received_ns))
        self.written += 1

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()


@dataclass(slots=True)
class RunLog:
    """A whole run read back: every shard's records as numpy columns."""

    meta: RunMeta
    events: npt.NDArray[Any]  # EVENT_DTYPE, `type` remapped to indexes into `types`
    results: npt.NDArray[Any]  # RESULT_DTYPE
    types: list[str]
    skipped_bytes: int  # torn tails of shards after a crash

    @property
    def type_names(self) -> npt.NDArray[Any]:
        return np.asarray(self.types, dtype=object)


def read_run(run_dir: Path) -> RunLog:
    """Read every shard of a run; a torn last record of a shard is skipped and counted.

    Shards are read straight into one preallocated array: concatenating per-shard arrays
    would hold every record twice (about 1 GB more at ten million events).
    """
    meta = RunMeta.read(run_dir)
    event_paths = sorted(run_dir.glob("events-*.bin"))
    events, skipped, offsets = _read_all(event_paths, EVENT_DTYPE)
    types: list[str] = []
    global_index: dict[str, int] = {}
    for path, (start, stop) in zip(event_paths, offsets, strict=True):
        names_path = path.with_suffix(".types")
        names = names_path.read_text(encoding="utf-8").splitlines() if names_path.exists() else []
        mapping = np.zeros(max(len(names), 1), dtype=np.uint16)
        for local, name in enumerate(names):
            if name not in global_index:
                global_index[name] = len(types)
                types.append(name)
            mapping[local] = global_index[name]
        column = events["type"][start:stop]
        if len(column):
            if int(column.max()) >= len(names):
                raise InputError(f"{path}: records name event types missing from {names_path.name}")
            events["type"][start:stop] = mapping[column]
    results, torn, _ = _read_all(sorted(run_dir.glob("results-*.bin")), RESULT_DTYPE)
    return RunLog(meta=meta, events=events, results=results, types=types, skipped_bytes=skipped + torn)


def _read_all(
    paths: list[Path], dtype: np.dtype[Any]
) -> tuple[npt.NDArray[Any], int, list[tuple[int, int]]]:
    """All whole records of `paths` in one array, the torn bytes skipped, each file's slice."""
    sizes = [path.stat().st_size for path in paths]
    counts = [size // dtype.itemsize for size in sizes]
    records = np.empty(sum(counts), dtype=dtype)
    raw = records.view(np.uint8)
    offsets: list[tuple[int, int]] = []
    start = 0
    for path, count in zip(paths, counts, strict=True):
        with path.open("rb") as handle:
            handle.readinto(raw[start * dtype.itemsize : (start + count) * dtype.itemsize].data)
        offsets.append((start, start + count))
        start += count
    skipped = sum(size - count * dtype.itemsize for size, count in zip(sizes, counts, strict=True))
    return records, skipped, offsets
