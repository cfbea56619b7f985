"""What every target does (open, send one request's worth of events, close) and what it returns.

Kept small on purpose: the dispatcher only knows this protocol, so brokers (Kafka, NATS,
Redis Streams) or a leaner HTTP path are new modules here, not changes to the dispatcher.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, overload, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from evtool.errors import UsageError
from evtool.events.envelope import CloudEvent
from evtool.results.runlog import Reason, Status

Mode = Literal["binary", "structured", "batch"]
MODES: tuple[Mode, ...] = ("binary", "structured", "batch")
REDACTED = "***"
# RFC 9110 field values: visible ASCII, obs-text, space and tab; a CR or LF would end the header
# line early and smuggle in another header (or a second request) on the lean client's raw write
_BAD_FIELD_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(slots=True)
class OutEvent:
    """One event ready to send, with what its log record needs.

    `raw` is the event's structured JSON when it is already serialized (replay), sent as it
    is in structured and batch modes to skip a re-encoding.
    """

    event: CloudEvent
    key: bytes
    schema_version: int
    raw: bytes | None = None
    intended_ns: int = 0

    @property
    def type(self) -> str:
        return self.event.type

    def structured(self) -> bytes:
        return self.raw if self.raw is not None else self.event.to_json_bytes()


class SerializedEvents(Protocol):
    """Events already serialized as structured JSON (a replayed log's lines), by position."""

    def joined(self, start: int, stop: int) -> bytes:
        """Events start..stop-1 joined by `,`."""
        ...

    def text(self, start: int, stop: int) -> bytes:
        """Events start..stop-1 as JSONL (a newline after each)."""
        ...

    def bracketed(self, start: int, stop: int) -> bytes | memoryview:
        """Events start..stop-1 as a JSON array (`[`, joined by `,`, `]`): a batch body."""
        ...

    def out_event(self, index: int) -> OutEvent:
        """One of them as an object (parsed when asked)."""
        ...


class RawBatch(Sequence[OutEvent]):
    """One request's worth of pre-serialized events: sent as the recorded bytes, with no object per event.

    HTTP and file targets use `joined`/`text`; a target that indexes it gets `OutEvent`s
    parsed on demand, so every target works with it, only slower.
    """

    __slots__ = ("source", "start", "stop")

    def __init__(self, source: SerializedEvents, start: int, stop: int) -> None:
        self.source = source
        self.start = start
        self.stop = stop

    def joined(self) -> bytes:
        return self.source.joined(self.start, self.stop)

    def text(self) -> bytes:
        return self.source.text(self.start, self.stop)

    def bracketed(self) -> bytes | memoryview:
        return self.source.bracketed(self.start, self.stop)

    def __len__(self) -> int:
        return self.stop - self.start

    @overload
    def __getitem__(self, index: int) -> OutEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[OutEvent]: ...

    def __getitem__(self, index: int | slice) -> OutEvent | Sequence[OutEvent]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.source.out_event(self.start + index)


def batch_body(events: Sequence[OutEvent]) -> bytes | memoryview:
    """Batched content mode: a JSON array of structured events."""
    if isinstance(events, RawBatch):
        return events.bracketed()
    return b"[" + b",".join(e.structured() for e in events) + b"]"


def structured_body(events: Sequence[OutEvent]) -> bytes:
    """Structured content mode: the one event's JSON."""
    if isinstance(events, RawBatch) and len(events) == 1:
        return events.joined()
    return events[0].structured()


@dataclass(frozen=True, slots=True)
class SendResult:
    """One request's outcome, protocol-neutral: `http_status` for HTTP, `detail` in the transport's
    own words (a Kafka error's name and text), kept in the shard's details table."""

    status: Status
    reason: Reason = Reason.NONE
    http_status: int = 0
    attempts: int = 1
    detail: str = ""


OK_RESULT = SendResult(Status.OK)


class Target(Protocol):
    """A destination. `send` gets one request's worth of events (one, or a batch)."""

    @property
    def description(self) -> str:
        """Where events go, safe to log (no secrets)."""
        ...

    async def open(self) -> None:
        """Connect or probe; raise TargetError when the target cannot be used at all."""
        ...

    async def send(self, events: Sequence[OutEvent]) -> SendResult: ...

    async def close(self) -> None: ...


OnDone = Callable[[SendResult], None]


@runtime_checkable
class Submitter(Protocol):
    """A target that takes a request without being awaited (Kafka's `produce()` + delivery report).

    The dispatcher then needs no task per request: at tens of thousands of events a second the
    task, its future and the extra loop turns cost more than the send. HTTP targets keep `send`.
    """

    def submit(self, events: Sequence[OutEvent], on_done: OnDone) -> SendResult | None:
        """Hand one request over. An outcome decided at once (a full local queue, a refused message)
        is returned and `on_done` is never called; otherwise None, and `on_done` is called exactly
        once later, on the event loop's thread, when the outcome is known (the ack time is then)."""
        ...


# (index of the event in its run, outcome, ack time as `time.perf_counter_ns()`; 0 when not acked)
Delivered = Callable[[int, SendResult, int], None]


@runtime_checkable
class RunSubmitter(Protocol):
    """A `Submitter` that takes a run of one-event requests in one call (Kafka's produce loop).

    The per-event bookkeeping (a token, a closure, a slot given back through two calls) was a
    quarter of the time of a replay as fast as possible; per run it is once.
    """

    def submit_run(self, events: Sequence[OutEvent], done: Delivered) -> None:
        """Each event is its own request. `done(i, result, ack)` is called exactly once per event:
        at once for an event refused locally (a full queue), otherwise later on the event loop's thread."""
        ...


@dataclass(frozen=True, slots=True)
class Header:
    """A `-H 'Name: value'` header; `value` may be `env:VAR`, resolved only when sending."""

    name: str
    value: str

    @property
    def from_env(self) -> bool:
        return self.value.startswith("env:")

    def resolve(self) -> str:
        """The value to send; refuses one that could not be sent as it is (never saying it)."""
        if not self.from_env:
            value = self.value
            where = f"-H {self.name}: the value"
        else:
            var = self.value[4:]
            resolved = os.environ.get(var)
            if resolved is None:
                raise UsageError(
                    f"-H {self.name}: environment variable {var} is not set",
                    hint=f"export {var}=... before the run, or pass the value directly",
                )
            value = resolved
            where = f"-H {self.name}: the value of environment variable {var}"
        bad = _BAD_FIELD_CHAR.search(value)
        if bad is not None:
            what = "a line break" if bad.group() in "\r\n" else "a control character"
            raise UsageError(
                f"{where} holds {what} (at character {bad.start() + 1}), which HTTP headers cannot carry",
                hint="remove it (a trailing newline from a file read into the variable, say)",
            )
        try:
            value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise UsageError(
                f"{where} holds a character outside Latin-1 (at character {exc.start + 1}), "
                "which HTTP headers cannot carry",
                hint="percent- or base64-encode it, as the receiving service expects",
            ) from None
        return value

    def redacted(self) -> str:
        """For meta, reports and logs: the name, and the value only when it is an env reference
        (`env:VAR` names a variable, it is not the secret); a literal value may be one, whatever
        the header is called (`X-Custom-Auth`, `X-Api`), so it never leaves the process."""
        if self.from_env:
            return f"{self.name}: {self.value}"
        return f"{self.name}: {REDACTED}"


def parse_header(text: str) -> Header:
    """`Name: value`; an error never repeats the text (the value may be a secret), only the name."""
    name, sep, value = text.partition(":")
    name = name.strip()
    expected = "expected 'Name: value' (or 'Name: env:VAR' for a secret)"
    if not sep:
        raise UsageError(f"-H: a header without ':', {expected}")
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        shown = repr(name) if len(name) <= 40 and not _BAD_FIELD_CHAR.search(name) else "(not shown)"
        raise UsageError(f"-H {shown}: not a header name, {expected}")
    return Header(name, value.strip())


def redact_url(url: str) -> str:
    """The URL as it may be stored or shown: the user info's password and every query (and
    fragment) value replaced (`?api_key=***&tenant=***`); scheme, host, port, path and names kept."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not even splittable (a stray `[`): keep the part before any secret
        return url.split("?", 1)[0].split("#", 1)[0].rpartition("@")[2] + "?" + REDACTED
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{host}"
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    fragment = "&".join(_redact_pair(p) for p in parts.fragment.split("&")) if parts.fragment else ""
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment))


def _redact_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    if not sep:
        return REDACTED if name else name  # `?token` alone: the bare word may be the secret
    return f"{name}={REDACTED}" if value else pair


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """Everything needed to build a target; picklable, holds no resolved secret."""

    target: str
    mode: Mode = "binary"
    batch_size: int = 1
    headers: tuple[Header, ...] = ()
    timeout_s: float = 10.0
    insecure: bool = False
    retries: int = 0
    max_in_flight: int = 10_000
    user_agent: str = "evtool"
    # HTTP client: "auto" is lean for http:// (several times faster) and aiohttp for https://
    client: Literal["auto", "aiohttp", "lean"] = "auto"
    extra: dict[str, Any] = field(default_factory=dict)
    # the transport's own typed options (e.g. `kafka.KafkaOptions`); None: its defaults
    transport: Any = None

    def validate(self) -> None:
        """The checks every transport shares; `registry.validate_target` adds the transport's own."""
        if self.mode not in MODES:
            raise UsageError(f"--content-mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be 1 or more")
        if self.retries < 0 or self.retries > 20:
            raise UsageError(f"--retries {self.retries}: must be between 0 and 20")
        if self.timeout_s <= 0:
            raise UsageError("--timeout must be more than 0")
        if self.client not in ("auto", "aiohttp", "lean"):
            raise UsageError(f"--client {self.client!r}: expected auto, aiohttp or lean")
        if self.client == "lean" and not self.target.startswith("http://"):
            raise UsageError("--client lean speaks plain http:// only", hint="use --client aiohttp for https")
        if self.max_in_flight < 1:
            raise UsageError(f"--max-in-flight {self.max_in_flight}: must be 1 or more")
        for header in self.headers:
            header.resolve()  # fail before the run when a secret is missing

    @property
    def description(self) -> str:
        return redact_url(self.target)


def redact_argv(argv: list[str]) -> list[str]:
    """The command line as meta.json keeps it: header values (but `env:` references) and URL
    passwords and query values removed, in every spelling click accepts (`-H v`, `-Hv`, `-qH v`,
    `--header v`, `--header=v`; the same for `-t`/`--target`)."""
    out: list[str] = []
    pending: Callable[[str], str] | None = None
    for arg in argv:
        if pending is not None:
            out.append(pending(arg))
            pending = None
            continue
        short = _SHORT_VALUE.fullmatch(arg)
        if arg == "-X":  # -X sasl.password=... (a librdkafka property)
            pending = _redact_property_text
            out.append(arg)
        elif arg.startswith("-X") and len(arg) > 2:
            out.append("-X" + _redact_property_text(arg[2:]))
        elif arg in ("-H", "--header") or (short and short["option"] == "H" and not short["value"]):
            pending = _redact_header_text
            out.append(arg)
        elif arg in ("-t", "--target") or (short and short["option"] == "t" and not short["value"]):
            pending = redact_url
            out.append(arg)
        elif arg.startswith("--header="):
            out.append("--header=" + _redact_header_text(arg[len("--header=") :]))
        elif arg.startswith("--target="):
            out.append("--target=" + redact_url(arg[len("--target=") :]))
        elif short and short["option"] == "H":
            out.append(short["flags"] + _redact_header_text(short["value"]))
        elif short and short["option"] == "t":
            out.append(short["flags"] + redact_url(short["value"]))
        elif "://" in arg:
            out.append(redact_url(arg))
        else:
            out.append(arg)
    return out


def _redact_property_text(text: str) -> str:
    name, sep, value = text.partition("=")
    if sep and not value.startswith("env:") and re.search(r"password|secret|jaas|token", name, re.IGNORECASE):
        return f"{name}={REDACTED}"
    return text


# a cluster of short options: flags (`-q`), then `-H` or `-t` with its value attached or next
_SHORT_VALUE = re.compile(r"(?P<flags>-q*(?P<option>[Ht]))(?P<value>.*)", re.DOTALL)


def _redact_header_text(text: str) -> str:
    try:
        return parse_header(text).redacted()
    except UsageError:
        return REDACTED
