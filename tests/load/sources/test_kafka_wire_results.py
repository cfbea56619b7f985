"""The Kafka result source with a Schema Registry given: results in the wire format (magic byte 0,
schema id, JSON) are unframed and read, on the real broker; a value without the frame (or one whose
payload is not JSON) counts unreadable; and `simulate --registry … --collect kafka://…` collects a
framed results topic end to end."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from tests.support.fake_schema_registry import fake_schema_registry
from tests.support.kafka_broker import Broker, run_evtool
from tests.support.kafka_read import read_raw
from tests.support.kafka_results import binary_result, produce, structured_result

from evtool.load.sources import open_source
from evtool.load.sources.base import CollectorSpec
from evtool.load.sources.kafka import KafkaResultSource
from evtool.load.targets.kafka import KafkaOptions
from evtool.registry.wire import frame
from evtool.results.clock import RunClock
from evtool.results.runlog import RESULT_DTYPE, correlation_key, read_run

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
RESULT_ID = 77  # the results' (JSON) schema id in these tests


def _framed(record: tuple[bytes | None, list[tuple[str, bytes]]]) -> tuple[bytes, list[tuple[str, bytes]]]:
    value, headers = record
    assert value is not None
    return frame(RESULT_ID, value), headers


def test_framed_results_are_read_and_unframed_ones_are_unreadable(kafka_broker: Broker,
                                                                  tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(partitions=2, prefix="decisions")
    by_header = [str(uuid.uuid4()) for _ in range(60)]
    by_value = [str(uuid.uuid4()) for _ in range(40)]
    framed = [_framed(binary_result(v)) for v in by_header]
    framed += [_framed(structured_result(v)) for v in by_value]
    bad = [structured_result(str(uuid.uuid4())),  # JSON, but not in the wire format
           (b"\x00\x00", []),  # cut short inside the header
           (frame(RESULT_ID, b"\x02\x04 avro, not json"), [])]  # framed, payload not JSON
    spec = CollectorSpec(f"kafka://{kafka_broker.bootstrap}/{topic}",
                         transport=KafkaOptions(registry="http://127.0.0.1:8081"))

    async def go() -> KafkaResultSource:
        source = open_source(spec, tmp_path, RunClock())
        assert isinstance(source, KafkaResultSource)
        async with source:
            await asyncio.to_thread(produce, kafka_broker.bootstrap, topic, [*framed, *bad])
            deadline = time.monotonic() + 30
            while source.records < len(framed) + len(bad):
                assert time.monotonic() < deadline, "timed out"
                await asyncio.sleep(0.05)
        return source

    source = asyncio.run(go())
    assert source.counts.results == 100
    assert source.counts.unreadable == 3
    counts = json.loads((tmp_path / "collector-0.json").read_text())
    assert counts["settings"]["registry"]["schema_ids"] == {str(RESULT_ID): 101}
    records = np.frombuffer((tmp_path / "results-0.bin").read_bytes(), dtype=RESULT_DTYPE)
    keys = {bytes(k) for k in records["key"]}
    assert keys == {correlation_key(v) for v in by_header + by_value}


@pytest.mark.e2e
def test_simulate_collects_a_framed_results_topic(kafka_broker: Broker, tmp_path: Path) -> None:
    """A stand-in downstream service answers each framed event with a framed result (ce_correlationid =
    the event's id); the run matches every one of them."""
    from confluent_kafka import Consumer, Producer

    events_topic = kafka_broker.create_topic(partitions=1, prefix="wire-events")
    results_topic = kafka_broker.create_topic(partitions=1, prefix="wire-results")
    subject = "inventory.stock.low"
    stop = threading.Event()
    answered: list[str] = []

    def downstream() -> None:
        consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": uuid.uuid4().hex,
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([events_topic])
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 1})
        try:
            while not stop.is_set():
                message = consumer.poll(0.1)
                if message is None or message.error() is not None:
                    continue
                value = message.value() or b""
                assert value[0] == 0
                event_id = dict(message.headers() or [])["ce_id"].decode()
                value, headers = _framed(binary_result(event_id))
                producer.produce(results_topic, value, headers=headers)
                producer.poll(0)
                answered.append(event_id)
            producer.flush(10)
        finally:
            consumer.close()

    with fake_schema_registry() as registry:
        for version in (1, 2):
            registry.add(f"{subject}-value", (SCHEMAS / subject / f"{version}.json").read_text(), "JSON")
        thread = threading.Thread(target=downstream, daemon=True)
        thread.start()
        run_dir = tmp_path / "run"
        try:
            ran = run_evtool("simulate", "--rate", "50/s", "--count", "30", "--seed", "2",
                             "--schemas", SCHEMAS, "--mix", f"{subject}=1", "--registry", registry.url,
                             "--target", f"kafka://{kafka_broker.bootstrap}/{events_topic}",
                             "--collect", f"kafka://{kafka_broker.bootstrap}/{results_topic}",
                             "--result-timeout", "20s", "--run-dir", run_dir, "-q")
        finally:
            stop.set()
            thread.join(30)
    assert ran.code == 0, ran.stderr
    assert len(read_raw(kafka_broker.bootstrap, events_topic, expect=30)) == 30
    run = read_run(run_dir)
    assert len(run.events) == 30
    assert len(answered) == 30
    counts = json.loads((run_dir / "collector-0.json").read_text())
    assert counts["unreadable"] == 0
    assert counts["results"] == 30, counts


@pytest.mark.e2e
def test_collect_source_with_registry_reads_framed_results(kafka_broker: Broker, tmp_path: Path) -> None:
    """`evtool collect --source kafka://… --registry URL`: framed results recorded, an unframed one
    unreadable."""
    import subprocess
    import sys

    decisions = kafka_broker.create_topic(partitions=1, prefix="decisions")
    run_dir = tmp_path / "collected"
    process = subprocess.Popen([sys.executable, "-m", "evtool", "collect", "--run-dir", str(run_dir),
                                "--source", f"kafka://{kafka_broker.bootstrap}/{decisions}",
                                "--registry", "http://127.0.0.1:8081", "--duration", "8s"],
                               stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "collecting from kafka://" in line, line
    values = [str(uuid.uuid4()) for _ in range(25)]
    produce(kafka_broker.bootstrap, decisions,
            [_framed(binary_result(v)) for v in values] + [binary_result(str(uuid.uuid4()))])
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "25 results recorded" in err
    assert "1 unreadable" in err


DECISION = {"type": "record", "name": "Decision", "namespace": "ai.decisions", "fields": [
    {"name": "event_id", "type": "string"}, {"name": "action", "type": "string"},
    {"name": "score", "type": "double"}]}


def _avro(schema: dict[str, object], datum: dict[str, object]) -> bytes:
    import io

    import fastavro

    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
    return out.getvalue()


def test_avro_results_are_decoded_with_the_writer_schema_asked_of_the_registry_once(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    """A downstream service writes its decisions in Avro with a registry-aware serializer: the source
    asks GET /schemas/ids/{id} once per id, decodes each value with that schema and correlates by a
    path into it. A Protobuf id is unreadable with its reason; an id the registry lacks is read as
    JSON, and the run's problems say so."""
    from evtool.registry.client import RegistrySettings

    topic = kafka_broker.create_topic(partitions=2, prefix="decisions")
    with fake_schema_registry() as registry:
        avro_id = registry.add("decisions-value", json.dumps(DECISION))
        proto_id = registry.add("other-value", 'syntax = "proto3"; message M { string a = 1; }', "PROTOBUF")
        correlations = [str(uuid.uuid4()) for _ in range(50)]
        records: list[tuple[bytes, list[tuple[str, bytes]]]] = [
            (frame(avro_id, _avro(DECISION, {"event_id": c, "action": "hold", "score": 0.5})), [])
            for c in correlations]
        unknown = str(uuid.uuid4())
        records.append((frame(999, b'{"event_id": "%s"}' % unknown.encode()), []))  # id the registry lacks
        records.append((frame(proto_id, b"\x0a\x01x"), []))  # a Protobuf value: not decoded
        records.append((frame(avro_id, b"\xff"), []))  # framed with the Avro id, not an Avro datum
        options = KafkaOptions(registry=registry.url, registry_access=RegistrySettings(registry.url))
        spec = CollectorSpec(f"kafka://{kafka_broker.bootstrap}/{topic}", correlate_by="data.event_id",
                             transport=options)

        async def go() -> KafkaResultSource:
            source = open_source(spec, tmp_path, RunClock())
            assert isinstance(source, KafkaResultSource)
            async with source:
                await asyncio.to_thread(produce, kafka_broker.bootstrap, topic, records)
                deadline = time.monotonic() + 30
                while source.records < len(records):
                    assert time.monotonic() < deadline, "timed out"
                    await asyncio.sleep(0.05)
            return source

        source = asyncio.run(go())
        lookups = [r for r in registry.requests if r[1].startswith("/schemas/ids/")]
    assert sorted(lookups) == sorted(("GET", f"/schemas/ids/{i}") for i in (avro_id, 999, proto_id))
    assert source.counts.results == 51
    assert source.counts.unreadable == 2
    stored = np.frombuffer((tmp_path / "results-0.bin").read_bytes(), dtype=RESULT_DTYPE)
    keys = {bytes(k) for k in stored["key"]}
    assert keys == {correlation_key(c) for c in [*correlations, unknown]}
    problems = source.counts.problems
    assert any(f"schema id {proto_id}: PROTOBUF values are not decoded" in p for p in problems), problems
    assert any(f"does not decode with schema id {avro_id}" in p for p in problems), problems
    assert any("schema id 999:" in p and "read as JSON" in p for p in problems), problems
