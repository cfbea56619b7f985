"""What both HTTP clients share: request parts per CloudEvents content mode, the retry rule, and
the errors that classify a failed attempt. No aiohttp here, so the lean client never loads it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from email.utils import parsedate_to_datetime

from evtool.events.envelope import CONTENT_TYPE_BATCH, CONTENT_TYPE_STRUCTURED
from evtool.load.targets.base import OutEvent, SendResult, batch_body, structured_body
from evtool.results.runlog import Reason, Status

RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_REASONS = frozenset({Reason.CONNECT, Reason.TIMEOUT, Reason.PROTOCOL})
BACKOFF_BASE_S = 0.05
BACKOFF_MAX_S = 5.0
RETRY_AFTER_MAX_S = 60.0
PROBE_TIMEOUT_S = 3.0


class BrokenResponse(Exception):
    """An answer that is not HTTP, or a connection lost before the answer was complete."""


class UnansweredOnReuse(BrokenResponse):
    """A pooled connection closed or reset after the request was written, before any answer came.

    Nearly always the keep-alive race: the server had dropped the idle connection and never
    read the request. `with_retries` sends it once more on a fresh connection.
    """


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_MAX_S)
    except ValueError:
        pass
    try:
        import datetime as dt

        when = parsedate_to_datetime(value)
        delay = (when - dt.datetime.now(dt.UTC)).total_seconds()
        return min(max(delay, 0.0), RETRY_AFTER_MAX_S)
    except (TypeError, ValueError, IndexError):
        return None


def request_parts(mode: str, events: Sequence[OutEvent]) -> tuple[dict[str, str], bytes | memoryview]:
    """Headers and body of one request in a CloudEvents HTTP content mode."""
    if mode == "batch":
        return {"Content-Type": CONTENT_TYPE_BATCH}, batch_body(events)
    if mode == "structured":
        return {"Content-Type": CONTENT_TYPE_STRUCTURED}, structured_body(events)
    return events[0].event.to_binary()


async def with_retries(
    attempt: Callable[[bool], Awaitable[tuple[int, str | None]]],
    retries: int,
    rng: random.Random,
    classify: Callable[[BaseException], Reason] | None = None,
) -> SendResult:
    """Run `attempt(fresh)` (status code and Retry-After) until a 2xx, a final failure, or no retries left.

    Retried: 429, 502, 503, 504 and connection errors, timeouts, broken answers; 429/503 wait
    what Retry-After says, the rest back off exponentially with jitter.

    Replayed at once, once a request, outside `--retries`: an attempt that failed with
    `UnansweredOnReuse` (its pooled connection went before any byte of an answer), on a fresh
    connection (`fresh=True`). That is what browsers do for the keep-alive race; it can send a
    request twice only if the server read it and then hung up without a byte of answer, and
    then the receiver can tell (the same CloudEvents id) and the record does too (`attempts`
    counts every request written, the replay included). A fresh connection is never replayed.

    Cancelled (the run's grace ran out) while in flight or waiting to retry: returns
    FAILED/CANCELLED with the attempts made so far, so the record keeps the real count.
    """
    attempts = 0
    replays = 0
    fresh = False
    while True:
        attempts += 1
        delay: float | None = None
        try:
            code, retry_after = await attempt(fresh)
            if 200 <= code < 300:
                return SendResult(Status.OK, Reason.NONE, code, attempts)
            result = SendResult(Status.FAILED, Reason.HTTP_STATUS, code, attempts)
            if code not in RETRY_STATUSES:
                return result
            if code in (429, 503):
                delay = retry_after_s(retry_after)
        except asyncio.CancelledError:
            return SendResult(Status.FAILED, Reason.CANCELLED, 0, attempts)
        except UnansweredOnReuse:
            if not replays:
                replays = 1
                fresh = True
                continue
            result = SendResult(Status.FAILED, Reason.PROTOCOL, 0, attempts)
        except Exception as exc:
            result = SendResult(Status.FAILED, (classify or classify_error)(exc), 0, attempts)
            if result.reason not in RETRY_REASONS:
                return result
        fresh = False
        if attempts - replays > retries:
            return result
        if delay is None:
            backoff = min(BACKOFF_BASE_S * 2 ** (attempts - replays - 1), BACKOFF_MAX_S)
            delay = backoff / 2 + rng.uniform(0, backoff / 2)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return SendResult(Status.FAILED, Reason.CANCELLED, 0, attempts)


def classify_error(exc: BaseException) -> Reason:
    """The error kind the log keeps for a failed attempt, from the standard library's errors."""
    if isinstance(exc, asyncio.TimeoutError):
        return Reason.TIMEOUT
    if isinstance(exc, BrokenResponse):
        return Reason.PROTOCOL
    if isinstance(exc, ConnectionError | OSError):
        return Reason.CONNECT
    return Reason.OTHER
