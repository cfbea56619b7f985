"""Why events failed, were dropped or aborted, in words: "failed 30: HTTP 501", "dropped 5: queue-full".

Why here, and shared: the end-of-run summary of `simulate` and every report format must say
the same thing about the same log. A record's (status, reason, HTTP status, detail text) is
one failure kind; kinds are counted per chunk with one `np.unique` over the records that did
not succeed, so a healthy run pays nothing and a run where every event failed pays a sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evtool.results.runlog import (
    EVENT_DTYPE,
    OUTCOME_BY_CODE,
    Outcome,
    Reason,
    RunMeta,
    open_run,
    status_codes,
)

# what a reason is called when the transport gave no text of its own
_REASON_WORDS = {
    Reason.HTTP_STATUS: "HTTP status",
    Reason.TIMEOUT: "timeout",
    Reason.CONNECT: "connect error (refused, reset or DNS)",
    Reason.TLS: "TLS error",
    Reason.PROTOCOL: "protocol error (malformed answer or disconnect)",
    Reason.TRANSPORT: "transport error",
    Reason.MAX_IN_FLIGHT: "max-in-flight",
    Reason.QUEUE_FULL: "queue-full",
    Reason.BEHIND_SCHEDULE: "behind-schedule",
    Reason.OTHER: "other",
}
_OUTCOME_WORDS = {Outcome.FAILED: "failed", Outcome.DROPPED: "dropped", Outcome.ABORTED: "aborted"}

# (transport, status << 8 | reason, HTTP status, detail text) -> events
FailureKey = tuple[str, int, int, str]


def transport_name(meta: RunMeta) -> str:
    """"http", "kafka", "file", "stdout" ...: the transport's own word in meta, else the target's scheme."""
    named = meta.transport.get("transport") if isinstance(meta.transport, dict) else None
    if isinstance(named, str) and named:
        return named
    target = meta.target
    if target == "-":
        return "stdout"
    if target.startswith(("http://", "https://")):
        return "http"
    if target.startswith("file:") or "://" not in target:
        return "file"
    return target.split("://", 1)[0].lower()


def count_chunk(counts: dict[FailureKey, int], chunk: npt.NDArray[Any], code: npt.NDArray[Any],
                unsuccessful: npt.NDArray[np.bool_], details: tuple[str, ...], transport: str) -> None:
    """Add the failure kinds of a chunk's `unsuccessful` rows (`code`: `status_codes` of the chunk)."""
    where = np.flatnonzero(unsuccessful)
    if not len(where):
        return
    kind = code[where].astype(np.int64) << 32
    kind |= chunk["http_status"][where].astype(np.int64) << 16
    kind |= chunk["detail"][where].astype(np.int64)
    values, found = np.unique(kind, return_counts=True)
    for value, n in zip(values.tolist(), found.tolist(), strict=True):
        index = value & 0xFFFF
        text = "" if not index else (details[index - 1] if index <= len(details) else f"detail {index}")
        key = (transport, value >> 32, (value >> 16) & 0xFFFF, text)
        counts[key] = counts.get(key, 0) + int(n)


@dataclass(frozen=True, slots=True)
class Failure:
    """One kind of failure and how many events it took."""

    outcome: str  # "failed", "dropped", "aborted"
    reason: str  # the `Reason` name
    http_status: int | None
    detail: str | None  # the transport's own words (a Kafka error name and text)
    text: str  # what people read: "HTTP 501", "kafka MSG_SIZE_TOO_LARGE: ...", "queue-full"
    count: int

    @property
    def line(self) -> str:
        return f"{self.outcome} {self.count}: {self.text}"


def describe(counts: dict[FailureKey, int]) -> list[Failure]:
    """The kinds as `Failure`s, most events first (same kinds of several transports stay apart)."""
    out = []
    for (transport, code, http, detail), n in counts.items():
        outcome = Outcome(int(OUTCOME_BY_CODE[code]))
        reason_code = code & 0xFF
        reason = Reason(reason_code) if reason_code in Reason._value2member_map_ else Reason.OTHER
        if outcome == Outcome.ABORTED:
            text = "in flight when the run ended" if code >> 8 == 2 else "unsent when the run ended"
        elif http and reason == Reason.HTTP_STATUS:
            text = f"HTTP {http}" + (f" {detail}" if detail else "")
        elif detail:
            text = f"{transport} {detail}"
        else:
            text = _REASON_WORDS.get(reason, reason.name.lower())
            if outcome == Outcome.FAILED and transport not in ("http", "") and reason != Reason.HTTP_STATUS:
                text = f"{transport} {text}"
        out.append(Failure(_OUTCOME_WORDS.get(outcome, outcome.name.lower()), reason.name,
                           http or None, detail or None, text, n))
    out.sort(key=lambda f: (-f.count, f.outcome, f.text))
    return _merged(out)


def _merged(failures: list[Failure]) -> list[Failure]:
    """Kinds whose words are the same (e.g. one text in two shards' tables) as one line."""
    seen: dict[tuple[str, str], int] = {}
    out: list[Failure] = []
    for f in failures:
        at = seen.get((f.outcome, f.text))
        if at is None:
            seen[(f.outcome, f.text)] = len(out)
            out.append(f)
        else:
            g = out[at]
            out[at] = Failure(g.outcome, g.reason, g.http_status, g.detail, g.text, g.count + f.count)
    return out


def run_failures(run_dir: Path, chunk_records: int = 1 << 16) -> list[Failure]:
    """Failure kinds of one run directory, streamed (for the end-of-run summary)."""
    run = open_run(Path(run_dir))
    transport = transport_name(run.meta)
    counts: dict[FailureKey, int] = {}
    for shard in run.event_files:
        for chunk in shard.chunks(EVENT_DTYPE, chunk_records):
            code = status_codes(chunk["status"], chunk["reason"])
            outcome = OUTCOME_BY_CODE[code]
            count_chunk(counts, chunk, code, outcome > Outcome.OK, shard.details, transport)
    return describe(counts)


__all__ = ["Failure", "FailureKey", "count_chunk", "describe", "run_failures", "transport_name"]
