"""`partitionkey` and `sequence`: set at birth on generated events, carried by bindings, kept by replay."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from tests.support.cli import run_evtool
from tests.support.http_servers import RecordingSink

from evtool.catalog.bundled import resolve_catalogue
from evtool.catalog.loader import load_catalog
from evtool.config import load_settings
from evtool.events.envelope import (
    PARTITIONKEY,
    SEQUENCE,
    CloudEvent,
    dumps,
    format_sequence,
    parse_sequence,
    stamp_order,
)
from evtool.events.source import EventStream, GenerateOptions, parse_flow, parse_mix

ENTITY = {
    "commerce.order.placed": lambda d: d["order_id"],
    "inventory.stock.low": lambda d: d["sku"],
    "support.complaint.filed": lambda d: d["customer"]["customer_id"],
}


def _stream(**options: object) -> EventStream:
    root, _ = resolve_catalogue(None, load_settings(None))
    return EventStream(load_catalog(root), GenerateOptions(seed=4, count=600, **options))  # type: ignore[arg-type]


def test_generated_events_carry_their_entity_and_a_rising_sequence() -> None:
    events = list(_stream(mix=parse_mix("order=5,inventory=3,complaint=2")))
    assert {e.type for e in events} == set(ENTITY)
    for position, event in enumerate(events, start=1):
        assert event.extensions[PARTITIONKEY] == ENTITY[event.type](event.data)
        assert event.extensions[SEQUENCE] == f"{position:012d}"
    texts = [e.extensions[SEQUENCE] for e in events]
    assert sorted(texts) == texts  # lexicographic order is the numeric order (the extension's constraint)
    skus = [e.extensions[PARTITIONKEY] for e in events if e.type == "inventory.stock.low"]
    assert len(set(skus)) < len(skus)  # keys repeat: per-key order is something to judge


def test_flow_events_keep_their_links_and_get_the_stamp_too() -> None:
    events = list(_stream(flow=parse_flow("order-lifecycle")))
    assert all(e.extensions[SEQUENCE] == format_sequence(i) for i, e in enumerate(events, start=1))
    assert all("correlationid" in e.extensions for e in events)


def test_compact_json_is_the_structured_object_in_order() -> None:
    event = next(iter(_stream(mix=parse_mix("order"))))
    fast = event.to_json_bytes()
    assert fast == dumps(event.to_dict())
    keys = list(orjson.loads(fast))
    assert keys.index("dataschema") < keys.index(PARTITIONKEY) < keys.index(SEQUENCE) < keys.index("data")
    assert CloudEvent.from_json_bytes(fast).extensions == event.extensions


def test_http_binary_mode_sends_them_as_ce_headers() -> None:
    event = next(iter(_stream(mix=parse_mix("inventory"))))
    headers, _ = event.to_binary()
    assert headers["ce-partitionkey"] == event.data["sku"]
    assert headers["ce-sequence"] == "000000000001"
    back = CloudEvent.from_binary(headers, b"{}")
    assert back.extensions == {PARTITIONKEY: event.data["sku"], SEQUENCE: "000000000001"}


def test_a_recorded_stamp_is_kept_and_a_keyless_event_gets_none() -> None:
    recorded = CloudEvent("a", "s", "commerce.order.placed", data={"order_id": "O-1"},
                          extensions={PARTITIONKEY: "other", SEQUENCE: "000000000042"})
    keyless = CloudEvent("b", "s", "user.defined", data={"x": 1})
    out = list(stamp_order([recorded, keyless], start=7))
    assert out[0].extensions == {PARTITIONKEY: "other", SEQUENCE: "000000000042"}
    assert out[1].extensions == {}


def test_parse_sequence() -> None:
    assert parse_sequence("000000000012") == 12
    assert parse_sequence(b"7") == 7
    assert parse_sequence(12) == 12
    assert parse_sequence("12a") is None
    assert parse_sequence(True) is None
    assert parse_sequence(None) is None


def test_replay_from_a_file_keeps_them(sink: RecordingSink, tmp_path: Path) -> None:
    """generate → file → replay (binary mode): each request's ce-partitionkey/ce-sequence are the file's."""
    log = tmp_path / "events.jsonl"
    made = run_evtool("generate", "--count", "50", "--seed", "2", "--out", log)
    assert made.code == 0, made.stderr
    recorded = [json.loads(line) for line in log.read_text().splitlines()]
    ran = run_evtool("replay", log, "--target", sink.url, "--as-fast-as-possible", "--mode", "binary",
                     "--run-dir", tmp_path / "run", "-q")
    assert ran.code == 0, ran.stderr
    sent = {a.headers["ce-id"]: a.headers for a in sink.arrivals}
    assert len(sent) == 50
    for doc in recorded:
        headers = sent[doc["id"]]
        assert headers["ce-partitionkey"] == doc[PARTITIONKEY]
        assert headers["ce-sequence"] == doc[SEQUENCE]
