"""Plans give generated events structured ids (the report's O(n) join) and keep flow links intact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from itertools import islice

import numpy as np
import pytest

from evtool.events.envelope import CloudEvent
from evtool.load.plan import RENAMED_ROOTS, ArrivalSpec, GeneratedPlan, GeneratedRun, StructuredIds
from evtool.load.source import GeneratedEvents
from evtool.load.targets.base import OutEvent
from evtool.results.runlog import IdScheme, correlation_key


def _flow(shard: int, workers: int) -> Iterator[CloudEvent]:
    """An order, then an alert caused by it, for ever; ids are the generator's own UUIDv4s."""
    number = 0
    while True:
        order = CloudEvent(id=str(uuid.uuid4()), source="/t", type="order", data={"n": number},
                           dataschema="urn:evtool:schema:order:2")
        order.extensions["correlationid"] = order.id
        alert = CloudEvent(id=str(uuid.uuid4()), source="/t", type="alert", data={"order": number},
                           extensions={"correlationid": order.id, "causationid": order.id})
        yield order
        yield alert
        number += 1


def _plan(shard: int, correlate_by: str | None = None, count: int = 40) -> list[tuple[int, OutEvent]]:
    plan = GeneratedPlan(ArrivalSpec(kind="constant", rate=1000.0, count=count), _flow, correlate_by)
    return list(plan(shard, 2))


def test_generated_events_get_structured_unique_ids_that_are_their_keys() -> None:
    first = _plan(0)
    second = _plan(1)
    ids = [out.event.id for _, out in first + second]
    assert len(set(ids)) == len(ids) == 40
    for _, out in first + second:
        parsed = uuid.UUID(out.event.id)
        assert parsed.version == 8
        assert parsed.variant == uuid.RFC_4122
        assert out.key == correlation_key(out.event.id) == parsed.bytes
    schemes = {IdScheme.of_key(out.key) for _, out in first}
    assert len(schemes) == 1
    assert None not in schemes
    sequence = [int.from_bytes(out.key[8:], "big") & ((1 << 42) - 1) for _, out in first]
    assert sequence == list(range(20))  # plan order
    assert first[0][1].schema_version == 2


def test_flow_links_follow_the_new_ids() -> None:
    events = [out.event for _, out in _plan(0)]
    for order, alert in zip(events[::2], events[1::2], strict=True):
        assert order.extensions["correlationid"] == order.id
        assert alert.extensions == {"correlationid": order.id, "causationid": order.id}


def test_correlate_by_a_field_keys_by_that_field() -> None:
    out = _plan(0, "data.order")[1][1]
    assert out.key == correlation_key("0")


def test_only_recent_chain_roots_are_remembered() -> None:
    ids = StructuredIds(0, nonce=7)
    roots = []
    for _ in range(RENAMED_ROOTS + 1):
        event = CloudEvent(id=str(uuid.uuid4()), source="/t", type="order")
        event.extensions["correlationid"] = event.id
        roots.append(event.id)
        ids.assign(event)
    oldest = CloudEvent(id="x", source="/t", type="alert", extensions={"causationid": roots[0]})
    newest = CloudEvent(id="y", source="/t", type="alert", extensions={"causationid": roots[-1]})
    ids.assign(oldest)
    ids.assign(newest)
    assert oldest.extensions["causationid"] == roots[0]  # beyond the window: left as generated
    assert uuid.UUID(newest.extensions["causationid"]).version == 8


def test_generator_ids_can_be_kept() -> None:
    plan = GeneratedPlan(ArrivalSpec(kind="constant", rate=1000.0, count=4), _flow, structured_ids=False)
    outs = [out for _, out in plan(0, 1)]
    assert all(uuid.UUID(out.event.id).version == 4 for out in outs)
    assert outs[1].event.extensions["causationid"] == outs[0].event.id


@pytest.mark.parametrize(("arrival", "shard", "workers"), [
    (ArrivalSpec(kind="constant", rate=3333.0, duration_s=0.9), 0, 1),
    (ArrivalSpec(kind="constant", rate=7000.0, count=5000), 1, 3),
    (ArrivalSpec(kind="poisson", rate=2000.0, duration_s=1.0, seed=5), 0, 2),
])
def test_the_rest_of_a_plan_as_records_is_what_the_plan_would_have_made(
    arrival: ArrivalSpec, shard: int, workers: int
) -> None:
    """A run behind its end drops the rest of the plan as records, without making the events: the
    records must carry the very keys and times the events would have had."""
    taken = 37
    full = list(GeneratedPlan(arrival, _flow)(shard, workers))
    plan = GeneratedPlan(arrival, _flow)(shard, workers)
    assert isinstance(plan, GeneratedRun)
    plan.prime()
    first = next(plan)[1].key
    for _ in range(taken - 1):
        next(plan)
    rows = np.concatenate(list(plan.rest_records(1_000, 7, chunk=512)))
    assert len(rows) == len(full) - taken
    assert rows["intended_ns"].tolist() == [1_000 + offset for offset, _ in full[taken:]]
    scheme = IdScheme.of_key(first)  # this plan's nonce: the ids its next events would have had
    assert scheme is not None
    assert [bytes(k) for k in rows["key"]] == [scheme.key(seq) for seq in range(taken, len(full))]
    assert set(rows["type"].tolist()) == {7}


def _without_ids(event: CloudEvent, names: dict[str, int]) -> tuple[object, ...]:
    """An event with every id (its own, its links) replaced by the position of the event it names."""
    links = {k: names.get(v, v) for k, v in event.extensions.items() if k in ("correlationid", "causationid")}
    rest = {k: v for k, v in event.extensions.items() if k not in links}
    return (event.type, event.time, event.dataschema, event.data, links, rest)


@pytest.mark.parametrize("options", [{"mix": "order=70,inventory=20,complaint=10"},
                                     {"flow": "order-lifecycle:complaint_rate=0.5,complaint_delay_s=0.2"}])
def test_generated_events_are_born_with_their_structured_ids(options: dict[str, str]) -> None:
    """`simulate`'s events are made once: the structured id given at birth, keys in plan order, a
    flow's links naming those ids, and otherwise the very events of the seeded stream."""
    count = 3000
    events = GeneratedEvents(seed=11, **options)  # type: ignore[arg-type]
    plan = GeneratedPlan(ArrivalSpec(kind="constant", rate=1e6, count=count), events)(0, 1)
    outs = [out for _, out in plan]
    assert len(outs) == count
    scheme = IdScheme.of_key(outs[0].key)
    assert scheme is not None
    assert [out.key for out in outs] == [scheme.key(seq) for seq in range(count)]  # plan order
    assert all(uuid.UUID(out.event.id).bytes == out.key for out in outs)
    seeded = list(islice(events.stream(0), count))
    born_names = {out.event.id: n for n, out in enumerate(outs)}
    seeded_names = {event.id: n for n, event in enumerate(seeded)}
    assert [_without_ids(out.event, born_names) for out in outs] == \
        [_without_ids(event, seeded_names) for event in seeded]
    links = [out.event.extensions.get("causationid") for out in outs]
    assert any(links) == ("flow" in options)
    assert all(link in born_names for link in links if link is not None)  # no generator id left


def test_the_rest_of_a_born_plan_as_records_is_what_the_plan_would_have_made() -> None:
    arrival = ArrivalSpec(kind="constant", rate=5000.0, count=900)
    events = GeneratedEvents(seed=2)
    full = list(GeneratedPlan(arrival, events)(1, 2))
    plan = GeneratedPlan(arrival, events)(1, 2)
    assert isinstance(plan, GeneratedRun)
    plan.prime()
    first = next(plan)[1].key
    for _ in range(99):
        next(plan)
    rows = np.concatenate(list(plan.rest_records(0, 3, chunk=64)))
    scheme = IdScheme.of_key(first)
    assert scheme is not None
    assert [bytes(k) for k in rows["key"]] == [scheme.key(seq) for seq in range(100, len(full))]
