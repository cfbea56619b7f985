"""Generated events moved to their send time, their payload's own timestamps with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evtool.events.envelope import CloudEvent


def retime(event: CloudEvent, time: str, ms: int) -> None:
    """Move ``event`` to ``time`` (``ms`` since the epoch) and its payload's own timestamps with it.

    `simulate` stamps each generated event with its intended send time; the data was made on
    the generator's clock, and its ``placed_at`` / ``filed_at`` / ``detected_at`` (and a
    schema-driven subject's date-time or timestamp fields) are the event's own time, so they
    follow, in their own form: the RFC 3339 text, or epoch milli-, micro- or nanoseconds.
    """
    old = event.time
    event.time = time
    data = event.data
    if old is None or old == time or not isinstance(data, dict):
        return
    old_ms: int | None = None
    changed: dict[str, Any] = {}
    for key, value in data.items():
        if value.__class__ is str:
            if value == old:
                changed[key] = time
        elif value.__class__ is int and value > 10**11:  # an epoch timestamp, not a count
            if old_ms is None:
                old_ms = _epoch_ms(old)
            for scale in (1, 1000, 1_000_000):
                if value // scale == old_ms:
                    changed[key] = ms * scale + value % scale
                    break
    if changed:
        event.data = {**data, **changed}


def _epoch_ms(text: str) -> int:
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return -1
