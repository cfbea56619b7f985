from __future__ import annotations

import orjson
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_binary, from_structured
from cloudevents.core.formats.json import JSONFormat

from evtool.catalog import Catalog
from evtool.errors import InputError
from evtool.events import CloudEvent, EventStream, GenerateOptions, decode_batch, encode_batch
from evtool.events.envelope import CONTENT_TYPE_BATCH, dataschema_uri, format_sequence, parse_dataschema


def _events(catalog: Catalog, count: int = 20) -> list[CloudEvent]:
    return list(EventStream(catalog, GenerateOptions(count=count, seed=3)))


def test_structured_json_round_trip(catalog: Catalog) -> None:
    for event in _events(catalog):
        event.extensions["correlationid"] = "c-1"
        back = CloudEvent.from_json_bytes(event.to_json_bytes())
        assert back == event


def test_binary_mode_round_trip(catalog: Catalog) -> None:
    for event in _events(catalog):
        headers, body = event.to_binary()
        assert headers["ce-id"] == event.id
        assert headers["ce-type"] == event.type
        assert headers["content-type"] == "application/json"
        assert CloudEvent.from_binary(headers, body) == event


def test_batch_round_trip_and_http_dispatch(catalog: Catalog) -> None:
    events = _events(catalog)
    body = encode_batch(events)
    assert decode_batch(body) == events
    assert CloudEvent.from_http({"Content-Type": CONTENT_TYPE_BATCH}, body) == events
    headers, single = events[0].to_binary()
    assert CloudEvent.from_http(headers, single) == [events[0]]


def test_cloudevents_sdk_reads_our_structured_and_binary_events(catalog: Catalog) -> None:
    for event in _events(catalog):
        event.extensions["causationid"] = "abc"
        sdk = from_structured(
            HTTPMessage(headers={"content-type": "application/cloudevents+json"}, body=event.to_json_bytes()),
            JSONFormat(),
        )
        attributes = sdk.get_attributes()
        assert attributes["id"] == event.id
        assert attributes["type"] == event.type
        assert attributes["dataschema"] == event.dataschema
        assert attributes["causationid"] == "abc"
        assert attributes["time"].isoformat().replace("+00:00", "Z")[:23] == event.time[:23]  # type: ignore[index]
        assert sdk.get_data() == orjson.loads(orjson.dumps(event.data))
        headers, body = event.to_binary()
        binary = from_binary(HTTPMessage(headers=headers, body=body), JSONFormat())
        assert binary.get_attributes()["source"] == event.source


def test_dataschema_is_an_absolute_uri_naming_subject_and_version() -> None:
    uri = dataschema_uri("commerce.order.placed", 2)
    assert uri == "urn:evtool:schema:commerce.order.placed:2"
    assert parse_dataschema(uri) == ("commerce.order.placed", 2)
    assert parse_dataschema("commerce.order.placed/3") == ("commerce.order.placed", 3)
    assert parse_dataschema("https://example.com/x") is None


def test_a_recorded_dataschema_that_is_not_text_names_no_version() -> None:
    # a replayed log's `dataschema` is not type-checked on read; the memo must not choke on it
    event = CloudEvent.from_dict({"specversion": "1.0", "id": "1", "source": "s", "type": "t",
                                  "dataschema": ["urn:evtool:schema:a:1"]})
    assert event.schema_ref is None
    assert parse_dataschema(None) is None
    assert format_sequence(42) == "000000000042"
    assert format_sequence(10**12 + 1) == "1000000000001"  # wider than the padding: all digits kept


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"specversion":"1.0","id":"1","source":"s"}', "'type'"),
        (b'{"specversion":"0.3","id":"1","source":"s","type":"t"}', "specversion"),
    ],
)
def test_bad_structured_input_is_an_input_error(raw: bytes, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        CloudEvent.from_json_bytes(raw, where="log.jsonl:3")


def test_generated_fast_path_serializes_like_the_general_one(catalog: Catalog) -> None:
    from evtool.events.envelope import dumps

    for event in _events(catalog, 50):
        assert event.to_json_bytes() == dumps(event.to_dict())
        event.extensions["causationid"] = "x"
        event.subject = "s-1"
        assert event.to_json_bytes() == dumps(event.to_dict())
        assert orjson.loads(event.to_json_bytes())["subject"] == "s-1"
