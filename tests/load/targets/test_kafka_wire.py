"""`--registry` on the Kafka target, on the real broker and the protocol fake of a Schema Registry
(tests/support/fake_schema_registry.py: no real registry can run here). Each value read back is magic
byte 0, the registry's id of its own version, and a payload that decodes under that version's schema;
a version the registry lacks is refused in one line before anything is sent."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import fastavro
import pytest
from tests.support.fake_schema_registry import FakeSchemaRegistry, fake_schema_registry
from tests.support.kafka_broker import Broker, run_evtool
from tests.support.kafka_read import read_raw

from evtool.events.envelope import parse_dataschema
from evtool.results.runlog import Status, read_run

pytestmark = pytest.mark.e2e
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
ORDERS = "commerce.order.placed"
ORDERS_SUBJECT = f"{ORDERS}-value"  # TopicNameStrategy, evtool.toml's default naming


@pytest.fixture
def registry() -> Iterator[FakeSchemaRegistry]:
    with fake_schema_registry() as served:
        yield served


def _register(registry: FakeSchemaRegistry, subject: str, folder: str, *files: str) -> dict[str, int]:
    """The files registered as the fake's versions (the catalogue's text, as `schema push` sends it)."""
    ids = {}
    for name in files:
        path = SCHEMAS / folder / name
        schema_type = "AVRO" if path.suffix == ".avsc" else "JSON"
        ids[f"{folder}:{path.stem}"] = registry.add(subject, path.read_text(), schema_type)
    return ids


def _simulate(broker: Broker, topic: str, run_dir: Path, *extra: str | Path) -> list[str | Path]:
    return ["simulate", "--as-fast-as-possible", "--count", "40", "--seed", "5", "--schemas", SCHEMAS,
            "--target", f"kafka://{broker.bootstrap}/{topic}", "--run-dir", run_dir, "-q", *extra]


def test_avro_values_are_framed_with_the_registered_id_of_their_version(
    kafka_broker: Broker, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    registry.add("unrelated-value", {"type": "record", "name": "X", "fields": []})  # ids do not start at 1
    ids = _register(registry, ORDERS_SUBJECT, ORDERS, "1.avsc", "2.avsc", "3.avsc")
    topic = kafka_broker.create_topic(partitions=2, prefix="wire")
    run_dir = tmp_path / "run"
    ran = run_evtool(*_simulate(kafka_broker, topic, run_dir, "--mix", "order=1", "--schema-versions",
                                "2:50,3:50", "--encoding", "avro", "--registry", registry.url))
    assert ran.code == 0, ran.stderr
    assert (read_run(run_dir).events["status"] == Status.OK).all()
    messages = read_raw(kafka_broker.bootstrap, topic, expect=40)
    assert len(messages) == 40
    seen = set()
    for message in messages:
        ref = parse_dataschema(message.headers["ce_dataschema"].decode())
        assert ref is not None
        version = f"{ref[0]}:{ref[1]}"
        assert message.value[0] == 0, "magic byte"
        schema_id = int.from_bytes(message.value[1:5], "big")
        assert schema_id == ids[version], "the registry's id of this event's own version"
        schema = fastavro.parse_schema(json.loads((SCHEMAS / ORDERS / f"{ref[1]}.avsc").read_text()))
        body = io.BytesIO(message.value[5:])
        data = fastavro.schemaless_reader(body, schema, None)
        assert body.tell() == len(message.value) - 5, "the payload is exactly one Avro datum"
        assert isinstance(data, dict)
        assert data["order_id"].encode() == message.key
        seen.add(version)
    assert seen == {f"{ORDERS}:2", f"{ORDERS}:3"}
    wire = json.loads((run_dir / "meta.json").read_text())["transport"]["registry"]
    assert wire["url"] == registry.url
    assert wire["schema_ids"] == {f"urn:evtool:schema:{v}": ids[v] for v in (f"{ORDERS}:2", f"{ORDERS}:3")}
    lookups = [r for r in registry.requests if r == ("POST", f"/subjects/{ORDERS_SUBJECT}")]
    assert len(lookups) == 2, "one lookup per version, not per event"


def test_json_values_are_framed_with_the_json_schemas_id(
    kafka_broker: Broker, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    subject = "inventory.stock.low"
    ids = _register(registry, f"{subject}-value", subject, "1.json", "2.json")
    topic = kafka_broker.create_topic(partitions=1, prefix="wire")
    run_dir = tmp_path / "run"
    ran = run_evtool(*_simulate(kafka_broker, topic, run_dir, "--mix", f"{subject}=1", "--registry",
                                registry.url))
    assert ran.code == 0, ran.stderr
    messages = read_raw(kafka_broker.bootstrap, topic, expect=40)
    assert len(messages) == 40
    for message in messages:
        ref = parse_dataschema(message.headers["ce_dataschema"].decode())
        assert ref is not None
        assert message.value[0] == 0
        assert int.from_bytes(message.value[1:5], "big") == ids[f"{subject}:{ref[1]}"]
        assert isinstance(json.loads(message.value[5:]), dict)


def test_an_unregistered_version_is_refused_in_one_line_before_anything_is_sent(
    kafka_broker: Broker, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    _register(registry, ORDERS_SUBJECT, ORDERS, "1.avsc", "2.avsc")  # not version 3
    topic = kafka_broker.create_topic(partitions=1, prefix="wire")
    run_dir = tmp_path / "run"
    ran = run_evtool(*_simulate(kafka_broker, topic, run_dir, "--mix", "order=1", "--schema-versions",
                                "2:50,3:50", "--encoding", "avro", "--registry", registry.url))
    assert ran.code == 2, ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, ran.stderr
    assert f"{ORDERS} version 3" in lines[0]
    assert ORDERS_SUBJECT in lines[0]
    assert "evtool schema push" in lines[0]
    assert "Traceback" not in ran.stderr
    assert not (run_dir / "meta.json").exists()
    assert read_raw(kafka_broker.bootstrap, topic, expect=1, timeout_s=3) == []
    assert not registry.writes, "a run never registers anything"


def test_a_replayed_log_is_framed_too_and_structured_mode_is_refused(
    kafka_broker: Broker, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    ids = _register(registry, ORDERS_SUBJECT, ORDERS, "1.avsc", "2.avsc", "3.avsc")
    log = tmp_path / "orders.jsonl"
    ran = run_evtool("generate", "--count", "20", "--seed", "3", "--mix", "order=1",
                     "--schema-versions", "3", "--schemas", SCHEMAS, "-o", log)
    assert ran.code == 0, ran.stderr
    topic = kafka_broker.create_topic(partitions=1, prefix="wire")
    target = f"kafka://{kafka_broker.bootstrap}/{topic}"
    ran = run_evtool("replay", log, "--as-fast-as-possible", "--encoding", "avro", "--registry", registry.url,
                     "--target", target, "--run-dir", tmp_path / "run", "-q")
    assert ran.code == 0, ran.stderr
    messages = read_raw(kafka_broker.bootstrap, topic, expect=20)
    assert {int.from_bytes(m.value[1:5], "big") for m in messages} == {ids[f"{ORDERS}:3"]}
    subject = "inventory.stock.low"
    _register(registry, f"{subject}-value", subject, "1.json", "2.json")
    ran = run_evtool(*_simulate(kafka_broker, topic, tmp_path / "run2", "--mix", f"{subject}=1",
                                "--content-mode", "structured", "--registry", registry.url))
    assert ran.code == 2
    assert "--content-mode binary" in ran.stderr


@pytest.mark.parametrize("framed", [True, False])
def test_protobuf_values_are_the_subjects_message_framed_with_message_index_0(
    kafka_broker: Broker, registry: FakeSchemaRegistry, tmp_path: Path, framed: bool
) -> None:
    """`--encoding protobuf`: the value parses as the .proto's event message; with --registry it is
    magic byte 0, the version's id, message index 0 (the single 0 byte), then the message."""
    from evtool.catalog.loader import load_catalog
    from evtool.registry.wire import unframe

    subject = "payments.refund.issued"
    ids = {}
    for version in (2, 3):
        ids[version] = registry.add(f"{subject}-value", (SCHEMAS / subject / f"{version}.proto").read_text(),
                                    "PROTOBUF")
    catalog = load_catalog(SCHEMAS)
    topic = kafka_broker.create_topic(partitions=1, prefix="wire")
    extra = ["--registry", registry.url] if framed else []
    ran = run_evtool(*_simulate(kafka_broker, topic, tmp_path / "run", "--mix", f"{subject}=1",
                                "--schema-versions", "2:50,3:50", "--encoding", "protobuf", *extra))
    assert ran.code == 0, ran.stderr
    messages = read_raw(kafka_broker.bootstrap, topic, expect=40)
    assert len(messages) == 40
    versions = set()
    for message in messages:
        assert message.headers["content-type"] == b"application/protobuf"
        ref = parse_dataschema(message.headers["ce_dataschema"].decode())
        assert ref is not None
        versions.add(ref[1])
        payload = message.value
        if framed:
            assert payload[:1] == b"\x00"
            assert payload[5:6] == b"\x00", "message index 0, written as the single 0 byte"
            unframed = unframe(payload, protobuf=True)
            assert unframed.schema_id == ids[ref[1]]
            assert unframed.message_indexes == (0,)
            payload = unframed.payload
        schema = catalog.subject(subject).version(ref[1])
        decoded = schema.handler.message_class(schema).FromString(payload)  # type: ignore[attr-defined]
        assert decoded.refund_id
        assert decoded.order_id.startswith("ORD-")
        assert decoded.ByteSize() == len(payload), "nothing after the message"
    assert versions == {2, 3}


def test_registry_needs_a_kafka_target_and_a_reachable_registry(tmp_path: Path) -> None:
    ran = run_evtool("simulate", "--count", "3", "--rate", "10/s", "--target", "-", "--registry",
                     "http://127.0.0.1:9", "--run-dir", tmp_path / "run")
    assert ran.code == 2
    assert "--registry applies to kafka://" in ran.stderr
    ran = run_evtool("simulate", "--count", "3", "--rate", "10/s", "--mix", "order=1", "--encoding", "avro",
                     "--schemas", SCHEMAS, "--target", "kafka://127.0.0.1:9/orders", "--registry",
                     "http://127.0.0.1:9", "--run-dir", tmp_path / "run2")
    assert ran.code == 2
    assert "unreachable" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_registry_off_sends_plain_values_although_evtool_toml_names_a_registry(
    kafka_broker: Broker, registry: FakeSchemaRegistry, tmp_path: Path
) -> None:
    subject = "inventory.stock.low"
    _register(registry, f"{subject}-value", subject, "1.json", "2.json")
    (tmp_path / "evtool.toml").write_text(f'[registry]\nurl = "{registry.url}"\n')
    topics, asked = {}, {}
    for mode, extra in (("configured", ()), ("off", ("--registry", "off"))):
        topics[mode] = kafka_broker.create_topic(partitions=1, prefix="wire")
        before = len(registry.requests)
        ran = run_evtool(*_simulate(kafka_broker, topics[mode], tmp_path / mode, "--mix", f"{subject}=1",
                                    *extra), cwd=tmp_path)
        assert ran.code == 0, ran.stderr
        asked[mode] = len(registry.requests) - before
    framed = read_raw(kafka_broker.bootstrap, topics["configured"], expect=40)
    assert len(framed) == 40
    assert all(m.value[0] == 0 for m in framed), "[registry] url frames by default"
    assert asked["configured"] > 0
    plain = read_raw(kafka_broker.bootstrap, topics["off"], expect=40)
    assert len(plain) == 40
    assert all(isinstance(json.loads(m.value), dict) for m in plain), "plain JSON values, no frame"
    assert "registry" not in json.loads((tmp_path / "off" / "meta.json").read_text())["transport"]
    assert asked["off"] == 0, "--registry off asks the registry nothing"
