"""The one entry point `generate`, `simulate` and `demo` use: options in, a lazy event stream out.

`EventStream(catalog, options)` resolves names, versions and generators up front (so bad input
fails before the first event, with a one-line UsageError/SchemaError), then iterating it yields
CloudEvents one at a time — endless, or `options.count` of them — deterministic for a seed.
Gaps, event kinds and ids are drawn per block of events (numpy), and the domain makers stream
their data in blocks too, so a count is always a prefix of a longer run with the same seed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate, islice
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from evtool.catalog.model import Catalog, SchemaFile
from evtool.config import Settings
from evtool.errors import SchemaError, UsageError
from evtool.events.domain import COMPLAINT_SUBJECT, ORDER_SUBJECT, STOCK_SUBJECT, DomainState, domain_maker
from evtool.events.envelope import (
    CONTENT_TYPE_JSON,
    PARTITIONKEY,
    SEQUENCE,
    SPECVERSION,
    CloudEvent,
    dataschema_uri,
    entity_key,
    format_sequence,
    stamp_order,
)
from evtool.events.flows import FLOW_SUBJECTS, FlowSpec, OrderLifecycle, check_flow_makers, parse_flow
from evtool.events.validate import Check, InvalidEventError, IsValid, compile_checks
from evtool.values.context import FastRandom, GenContext, uuid4_block, uuid4_draws
from evtool.values.pools import build_pools

if TYPE_CHECKING:
    from evtool.formats.base import DataGenerator

SHORT_NAMES: dict[str, str] = {
    "order": ORDER_SUBJECT,
    "orders": ORDER_SUBJECT,
    "inventory": STOCK_SUBJECT,
    "stock": STOCK_SUBJECT,
    "complaint": COMPLAINT_SUBJECT,
    "complaints": COMPLAINT_SUBJECT,
}
DEFAULT_MIX_TEXT = "order=70,inventory=20,complaint=10"
DEFAULT_SOURCE = "urn:evtool:generate"
DEFAULT_START = datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)  # fixed, so output is reproducible
_PROBE_DRAWS = 25
_BLOCK = 1024  # events whose gaps, kinds and ids are drawn in one go

__all__ = [
    "DEFAULT_MIX_TEXT",
    "SHORT_NAMES",
    "EventStream",
    "FlowSpec",
    "GenerateOptions",
    "MixEntry",
    "default_mix",
    "fresh_seed",
    "generate_events",
    "parse_count",
    "parse_flow",
    "parse_mix",
    "parse_version_mix",
    "resolve_subject",
]


@dataclass(frozen=True, slots=True)
class MixEntry:
    """One part of `--mix`: a short or full subject name, optionally pinned to a version."""

    name: str
    weight: float
    version: int | None = None


def _weight(text: str, item: str, *, form: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"weight {text!r} in {item!r} is not a number", hint=f"write {form}") from None
    if not 0 < value < float("inf"):
        raise UsageError(f"weight in {item!r} must be a positive number")
    return value


def parse_mix(text: str) -> tuple[MixEntry, ...]:
    """`order=70,inventory=20,complaint=10`; `name@version=weight` pins a version; weight defaults to 1."""
    entries: list[MixEntry] = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, sep, raw_weight = item.partition("=")
        weight = _weight(raw_weight.strip(), item, form="name=weight, e.g. order=70") if sep else 1.0
        name, at, raw_version = name.strip().partition("@")
        version: int | None = None
        if at:
            if not raw_version.strip().isdigit() or int(raw_version) < 1:
                raise UsageError(f"version {raw_version!r} in {item!r} is not a positive integer")
            version = int(raw_version)
        if not name:
            raise UsageError(f"mix entry {item!r} has no event type", hint="write name=weight, e.g. order=70")
        entries.append(MixEntry(name.strip(), weight, version))
    if not entries:
        raise UsageError("the mix is empty", hint=f"e.g. {DEFAULT_MIX_TEXT}")
    return tuple(entries)


def parse_version_mix(text: str) -> tuple[tuple[int, float], ...]:
    """`1:30,2:70` (version:weight), or a single version `2`; UsageError for anything else."""
    out: dict[int, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        raw_version, sep, raw_weight = item.partition(":")
        if not raw_version.strip().isdigit() or int(raw_version) < 1:
            raise UsageError(
                f"schema version {raw_version.strip()!r} in {item!r} is not a positive integer",
                hint="write version:weight, e.g. 1:30,2:70",
            )
        form = "version:weight, e.g. 1:30,2:70"
        out[int(raw_version)] = _weight(raw_weight.strip(), item, form=form) if sep else 1.0
    if not out:
        raise UsageError("the schema version mix is empty", hint="e.g. 1:30,2:70")
    return tuple(out.items())


def parse_count(value: str | int) -> int:
    """A positive event count; UsageError for zero, negatives and non-integers."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().replace("_", "")
        if not text.lstrip("+").isdigit():
            raise UsageError(f"count {value!r} is not a positive integer")
        number = int(text)
    if number < 1:
        raise UsageError(f"count must be a positive integer, got {number}")
    return number


def resolve_subject(catalog: Catalog, name: str) -> str:
    """The catalogue subject meant by a short name (`order`) or a full subject name."""
    if name in catalog.subjects:
        return name
    full = SHORT_NAMES.get(name.lower())
    if full is not None and full in catalog.subjects:
        return full
    shorts = ", ".join(k for k, v in SHORT_NAMES.items() if v in catalog.subjects and not k.endswith("s"))
    known = ", ".join(catalog.subjects) or "none"
    raise UsageError(
        f"unknown event type {name!r}",
        hint=f"use a subject of the catalogue ({known})" + (f" or a short name ({shorts})" if shorts else ""),
    )


def fresh_seed() -> int:
    """A seed for a run that did not ask for one (printed and recorded, so it can be repeated)."""
    return secrets.randbelow(2**31)


def default_mix(catalog: Catalog, settings: Settings | None = None) -> tuple[MixEntry, ...]:
    """Every subject of the catalogue, weighted by `weight` in evtool.toml (else equally).

    Never the bundled types by name: a user's own catalogue has its own subjects.
    """
    return tuple(
        MixEntry(subject, settings.weight_of(subject) if settings is not None else 1.0)
        for subject in catalog.subjects
    )


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """What to generate. `flow` replaces `mix`; a version pinned in the mix beats the global choice."""

    mix: tuple[MixEntry, ...] | None = None  # None: every subject of the catalogue, equally
    flow: FlowSpec | None = None
    schema_version: int | None = None  # one version for every subject; None: the latest
    version_mix: tuple[tuple[int, float], ...] | None = None  # e.g. ((1, 30), (2, 70))
    seed: int = 0
    count: int | None = None  # None: endless
    locale: str = "en_US"
    source: str = DEFAULT_SOURCE  # the CloudEvents `source` attribute
    start: datetime = DEFAULT_START  # simulated time of the first event
    mean_gap_ms: float = 50.0  # mean simulated time between events (exponential gaps)
    validate: bool = False  # check every event against its schema version (InvalidEventError)
    schema_driven: bool = False  # ignore the domain makers: schema-driven data for every subject


@dataclass(slots=True)
class _Version:
    schema: SchemaFile
    uri: str
    generate: DataGenerator
    maker: Any  # the domain maker when one fits, else None
    check: Check
    is_valid: IsValid


@dataclass(slots=True)
class _Choice:
    subject: str
    versions: list[_Version]
    cum_weights: list[float]


class EventStream:
    """A resolved, compiled generation plan; iterate it for events (each iteration starts afresh)."""

    def __init__(self, catalog: Catalog, options: GenerateOptions) -> None:
        if options.count is not None:
            parse_count(options.count)
        if options.mean_gap_ms < 0:
            raise UsageError("mean gap between events must not be negative")
        self.catalog = catalog
        self.options = options
        self._compiled: dict[tuple[str, int], _Version] = {}
        self._state = DomainState()
        self._pools = build_pools(options.seed, options.locale)
        wanted = self._wanted()
        self.choices: list[_Choice] = [self._choice(subject, pin) for subject, pin, _ in wanted]
        self.cum_weights = list(accumulate(w for _, _, w in wanted))
        if options.flow is not None:
            check_flow_makers(options.flow.name, {c.subject: c.versions[0].maker for c in self.choices})

    @property
    def schemas(self) -> list[SchemaFile]:
        """Every schema version this stream may write with (for container headers, docs)."""
        return [v.schema for v in self._compiled.values()]

    def _wanted(self) -> list[tuple[str, int | None, float]]:
        options = self.options
        if options.flow is not None:
            return [(s, None, 1.0) for s in FLOW_SUBJECTS[options.flow.name]]
        mix = options.mix if options.mix is not None else default_mix(self.catalog)
        if not mix:
            raise UsageError("the catalogue has no subjects to generate", hint="add schemas/<subject>/1.json")
        return [(resolve_subject(self.catalog, e.name), e.version, e.weight) for e in mix]

    def _choice(self, subject: str, pinned: int | None) -> _Choice:
        entry = self.catalog.subject(subject)
        options = self.options
        if pinned is not None:
            plan: tuple[tuple[int, float], ...] = ((pinned, 1.0),)
        elif options.version_mix is not None:
            plan = options.version_mix
        elif options.schema_version is not None:
            plan = ((options.schema_version, 1.0),)
        else:
            plan = ((entry.latest.version, 1.0),)
        versions = [self._compile(entry.version(number)) for number, _ in plan]
        return _Choice(subject, versions, list(accumulate(w for _, w in plan)))

    def _compile(self, schema: SchemaFile) -> _Version:
        key = (schema.subject, schema.version)
        if key in self._compiled:
            return self._compiled[key]
        is_valid, check = compile_checks(schema)
        maker = None if self.options.schema_driven else domain_maker(schema, self._state)
        if maker is not None:
            probe = domain_maker(schema, DomainState())
            assert probe is not None
            if self._probe_fails(probe, check) is not None:
                maker = None  # a user's schema that only shares the name: use the schema itself
        generate: DataGenerator = maker if maker is not None else schema.handler.generator(schema)
        if maker is None:
            problem = self._probe_fails(generate, check)
            if problem is not None:
                raise SchemaError(
                    f"{schema.path}: cannot generate valid data: {problem}",
                    hint="`not`, if/then/else and dependentSchemas are not steered; simplify them",
                )
        uri = dataschema_uri(schema.subject, schema.version)
        version = _Version(schema, uri, generate, maker, check, is_valid)
        self._compiled[key] = version
        return version

    def _probe_fails(self, generate: DataGenerator, check: Check) -> str | None:
        ctx = GenContext(FastRandom(self.options.seed + 1), self._pools, _epoch_ms(self.options.start))
        for data in islice(data_stream(generate, ctx), _PROBE_DRAWS):
            problem = check(data)
            if problem is not None:
                return problem
        return None

    def __iter__(self) -> Iterator[CloudEvent]:
        return self.events()

    def events(self, ids: Callable[[], str] | None = None) -> Iterator[CloudEvent]:
        """The stream; with `ids`, each event's id is `ids()`, called as the event is made (so in the
        order the events come, and the links of a flow name them) instead of a seeded UUID.

        The seeded draws are the same either way, so the data is too. `simulate` gives its
        structured ids (`load.plan.StructuredIds`) this way: each event is made once, complete.
        """
        # each event's entity and stream position (`partitionkey`, `sequence`): per-key order is auditable
        # (`_mix` gives them at birth, flows as their events leave)
        events = stamp_order(self._flow(ids)) if self.options.flow is not None else self._mix(ids)
        if self.options.count is not None:
            events = islice(events, self.options.count)
        return events

    def _context(self) -> GenContext:
        # Domain state (order numbers, returning customers) restarts with each iteration too.
        self._state.reset()
        return GenContext(FastRandom(self.options.seed), self._pools, _epoch_ms(self.options.start))

    def _mix(self, given_ids: Callable[[], str] | None) -> Iterator[CloudEvent]:
        """Independent events; gaps, kinds and ids drawn per block, data from each version's stream."""
        ctx = self._context()
        gen = ctx.gen
        slots: list[tuple[str, _Version]] = []
        weights: list[float] = []
        previous = 0.0
        for choice, cumulative in zip(self.choices, self.cum_weights, strict=True):
            share, previous = cumulative - previous, cumulative
            last = 0.0
            for version, version_cum in zip(choice.versions, choice.cum_weights, strict=True):
                slots.append((choice.subject, version))
                weights.append(share * (version_cum - last) / choice.cum_weights[-1])
                last = version_cum
        cum = np.cumsum(weights)
        types = [subject for subject, _ in slots]
        uris = [version.uri for _, version in slots]
        versions = [version for _, version in slots]
        nexts = [data_stream(version.generate, ctx).__next__ for version in versions]
        valid = [version.is_valid for version in versions]
        source, validate, stamp = self.options.source, self.options.validate, ctx.format_time
        gap = self.options.mean_gap_ms
        single = len(slots) == 1
        kinds: list[int] = [0] * _BLOCK
        position = 1  # the event's place in this stream: its `sequence` (as `stamp_order` numbers)
        while True:
            if gap > 0:
                steps = gen.exponential(gap, _BLOCK).astype(np.int64)
                times: list[int] = (np.cumsum(steps) + ctx.now_ms).tolist()
            else:
                times = [ctx.now_ms] * _BLOCK
            if not single:
                kinds = np.searchsorted(cum, gen.random(_BLOCK) * cum[-1], side="right").tolist()
            if given_ids is None:
                ids = uuid4_block(gen, _BLOCK)
            else:
                uuid4_draws(gen, _BLOCK)  # drawn all the same: the data that follows stays seeded
            for i in range(_BLOCK):
                now = ctx.now_ms = times[i]
                kind = kinds[i]
                data = nexts[kind]()
                kind_name = types[kind]
                entity = entity_key(kind_name, data)
                event = CloudEvent(
                    ids[i] if given_ids is None else given_ids(), source, kind_name, stamp(now), data,
                    uris[kind], CONTENT_TYPE_JSON, None,
                    SPECVERSION,
                    {} if entity is None else {PARTITIONKEY: entity, SEQUENCE: format_sequence(position)},
                )
                position += 1
                if validate and not valid[kind](data):
                    _validate(versions[kind], event)
                yield event

    def _flow(self, given_ids: Callable[[], str] | None) -> Iterator[CloudEvent]:
        assert self.options.flow is not None
        ctx = self._context()
        rng = ctx.rng
        by_subject = {c.subject: c for c in self.choices}
        source = self.options.source
        validate = self.options.validate
        gap = self.options.mean_gap_ms
        rate = 1.0 / gap if gap > 0 else 0.0
        last: dict[str, _Version] = {}
        stamp = ctx.format_time

        def pick(subject: str) -> tuple[str, Any]:
            choice = by_subject[subject]
            versions = choice.versions
            version = (
                versions[0]
                if len(versions) == 1
                else rng.choices(versions, cum_weights=choice.cum_weights)[0]
            )
            last[subject] = version
            return version.uri, version.maker

        def emit(subject: str, uri: str, data: Any, extensions: dict[str, str]) -> CloudEvent:
            seeded = ctx.uuid()  # drawn all the same: the data that follows stays seeded
            event = CloudEvent(
                seeded if given_ids is None else given_ids(),
                source,
                subject,
                stamp(ctx.now_ms),
                data,
                uri,
                CONTENT_TYPE_JSON,
                None,
                SPECVERSION,
                extensions,
            )
            if validate and not last[subject].is_valid(data):
                _validate(last[subject], event)
            return event

        def advance() -> None:
            if rate:
                ctx.now_ms += int(rng.expovariate(rate))

        flow = OrderLifecycle(self.options.flow, ctx, pick, emit, advance)
        self.ledger = flow.ledger
        yield from flow


def data_stream(generate: DataGenerator, ctx: GenContext) -> Iterator[Any]:
    """Endless data from a generator: its own block-drawing `stream` when it has one."""
    stream = getattr(generate, "stream", None)
    if stream is not None:
        return cast("Iterator[Any]", stream(ctx))
    return _repeat(generate, ctx)


def _repeat(generate: DataGenerator, ctx: GenContext) -> Iterator[Any]:
    while True:
        yield generate(ctx)


def _validate(version: _Version, event: CloudEvent) -> None:
    problem = version.check(event.data)
    if problem is not None:
        raise InvalidEventError(f"event {event.id} ({event.type} v{version.schema.version}) {problem}")


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def generate_events(catalog: Catalog, options: GenerateOptions) -> Iterator[CloudEvent]:
    """Events for `options`, lazily; raises UsageError/SchemaError before the first one for bad input."""
    return iter(EventStream(catalog, options))
