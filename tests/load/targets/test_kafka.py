"""The Kafka target on a real Apache Kafka broker (scripts/kafka up), read back with kcat.

What is checked independently of our code: kcat reads the topic, and the CloudEvents SDK's
Kafka binding (cloudevents.core.bindings.kafka) parses each message.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from tests.support.kafka_broker import Broker, run_evtool

from evtool.errors import UsageError
from evtool.load.targets import validate_target
from evtool.load.targets.base import TargetOptions, redact_argv
from evtool.load.targets.kafka import KafkaOptions, parse_url, read_offsets
from evtool.results.runlog import Reason, RunMeta, Status, correlation_key, failure_details, read_run

pytestmark = pytest.mark.e2e


def _headers(message: dict[str, Any]) -> dict[str, bytes]:
    flat = message["headers"] or []
    return {flat[i]: (flat[i + 1] or "").encode() for i in range(0, len(flat), 2)}


def _ce(message: dict[str, Any]) -> Any:
    """The message as the CloudEvents SDK's Kafka binding reads it (binary or structured by content-type)."""
    key = message["key"]
    return ce_kafka.from_kafka_event(ce_kafka.KafkaMessage(
        headers=_headers(message), key=None if key is None else key.encode(),
        value=(message["payload"] or "").encode()))


def _ok_keys(run_dir: Path) -> set[bytes]:
    events = read_run(run_dir).events
    return {bytes(k) for k in events["key"][events["status"] == Status.OK]}


def _accounted(run_dir: Path) -> Any:
    events = read_run(run_dir).events
    status = events["status"]
    assert ((status == Status.OK) | (status == Status.FAILED) | (status == Status.DROPPED)).all()
    return events


def test_simulate_to_a_topic_binary_mode_read_back_with_kcat(kafka_broker: Broker, tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(partitions=3, prefix="orders")
    run_dir = tmp_path / "run"
    ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "--rate", "200/s",
                     "--duration", "2s", "--mix", "order=60,inventory=25,complaint=15", "--seed", "3",
                     "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    events = _accounted(run_dir)
    assert len(events) == 400
    assert (events["status"] == Status.OK).all(), failure_details(run_dir)
    assert (events["ack_ns"] >= events["sent_ns"]).all()

    messages = kafka_broker.read_topic(topic, expect=400)
    assert len(messages) == 400, "kcat sees exactly the acknowledged events"
    offsets = read_offsets(run_dir)
    by_key = {bytes(r["key"]): (int(r["partition"]), int(r["offset"])) for r in offsets}
    assert len(offsets) == len(by_key) == 400
    assert set(by_key) == _ok_keys(run_dir)
    partitions = set()
    for message in messages:
        headers = _headers(message)
        assert headers["content-type"] == b"application/json"
        assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_dataschema"} <= set(headers)
        event = _ce(message)
        assert event.get_specversion() == "1.0"
        data = event.get_data()
        assert data == orjson.loads(message["payload"])
        entity = {"commerce.order.placed": lambda d: d["order_id"], "inventory.stock.low": lambda d: d["sku"],
                  "support.complaint.filed": lambda d: d["customer"]["customer_id"]}[event.get_type()]
        assert message["key"] == entity(data), "the key is the event's entity"
        assert event.get_dataschema().startswith(f"urn:evtool:schema:{event.get_type()}:")
        # the offsets file says where the broker put exactly this event
        assert by_key[correlation_key(event.get_id())] == (message["partition"], message["offset"])
        partitions.add(message["partition"])
    assert partitions == {0, 1, 2}

    meta = RunMeta.read(run_dir)
    props = meta.transport["properties"]
    assert (props["acks"], props["enable.idempotence"], props["linger.ms"], props["compression.type"]) == (
        "all", "true", "5", "lz4")
    assert meta.transport["topic"] == topic
    assert meta.transport["partitions"] == 3


def test_structured_mode_and_key_option(kafka_broker: Broker, tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(partitions=2, prefix="structured")
    run_dir = tmp_path / "run"
    ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/{topic}",
                     "--content-mode", "structured", "--key", "data.customer.customer_id", "--mix", "order=1",
                     "--rate", "100/s", "--count", "50",
                     "-X", "linger.ms=1", "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    assert len(_accounted(run_dir)) == 50
    messages = kafka_broker.read_topic(topic, expect=50)
    assert len(messages) == 50
    for message in messages:
        headers = _headers(message)
        assert headers["content-type"].startswith(b"application/cloudevents+json")
        assert not any(name.startswith("ce_") for name in headers), "structured mode: attributes in the value"
        body = json.loads(message["payload"])
        event = _ce(message)
        assert event.get_id() == body["id"]
        assert event.get_data() == body["data"]
        assert message["key"] == body["data"]["customer"]["customer_id"]
    assert RunMeta.read(run_dir).transport["properties"]["linger.ms"] == "1"


def test_unreachable_broker_is_one_line_exit_2_within_10s(tmp_path: Path) -> None:
    ran = run_evtool("simulate", "--target", "kafka://127.0.0.1:9/orders", "--rate", "10/s",
                     "--duration", "1s",
                     "--run-dir", tmp_path / "run", "-q")
    assert ran.code == 2
    assert ran.seconds < 10
    assert "error: Kafka 127.0.0.1:9: cannot read metadata for topic orders" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "run" / "events-0.bin").exists(), "nothing is scheduled before the broker answers"


def test_missing_topic_is_exit_2_within_10s(kafka_broker: Broker, tmp_path: Path) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/{missing}", "--rate", "10/s",
                     "--duration", "1s", "--run-dir", tmp_path / "run", "-q")
    assert ran.code == 2
    assert ran.seconds < 10
    assert f"topic {missing} is not usable (Broker: Unknown topic or partition)" in ran.stderr
    assert missing not in kafka_broker.kcat("-L").decode(), "the check must not create the topic"


def test_wrong_security_protocol_fails_fast(kafka_broker: Broker, tmp_path: Path) -> None:
    """SASL against a plaintext listener: the handshake fails, and that ends the metadata tries."""
    env_var = "EVTOOL_TEST_SASL_PASSWORD"
    os.environ[env_var] = "s3cret-value"
    try:
        ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/any", "-X",
                         "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN",
                         "-X", "sasl.username=u",
                         "-X", f"sasl.password=env:{env_var}", "--rate", "10/s", "--duration", "1s",
                         "--run-dir", tmp_path / "run", "-q")
    finally:
        del os.environ[env_var]
    assert ran.code == 2
    assert ran.seconds < 10
    assert "_AUTHENTICATION" in ran.stderr
    assert "s3cret-value" not in ran.stderr


def test_batch_mode_is_refused_in_one_line(tmp_path: Path) -> None:
    ran = run_evtool("simulate", "--target", "kafka://127.0.0.1:9/orders", "--content-mode", "batch",
                     "--rate", "10/s",
                     "--duration", "1s", "--run-dir", tmp_path / "run", "-q")
    assert ran.code == 2
    assert "--content-mode batch: the CloudEvents Kafka binding has no batched mode" in ran.stderr


def _log_with_a_big_event(path: Path, count: int, big_at: set[int], big_bytes: int) -> list[str]:
    rng = np.random.default_rng(7)
    ids = []
    with path.open("w") as out:
        for n in range(count):
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            data: dict[str, Any] = {"order_id": f"ORD-{n}", "n": n}
            if n in big_at:  # random hex: lz4 cannot shrink it under the topic's limit
                data["blob"] = rng.bytes(big_bytes // 2).hex()
            out.write(json.dumps({"specversion": "1.0", "id": event_id, "source": "/tests",
                                  "type": "commerce.order.placed", "time": "2026-01-01T00:00:00Z",
                                  "datacontenttype": "application/json", "data": data}) + "\n")
    return ids


def test_message_larger_than_the_topic_allows_fails_with_its_reason(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic(partitions=1, prefix="small", config={"max.message.bytes": "4000"})
    log = tmp_path / "log.jsonl"
    ids = _log_with_a_big_event(log, 20, {5, 12}, 20_000)
    run_dir = tmp_path / "run"
    # 50 ms apart with no linger: one message per batch (the broker refuses a batch as a whole)
    ran = run_evtool("replay", log, "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "--rate", "20/s",
                     "-X", "linger.ms=0", "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    events = _accounted(run_dir)
    assert len(events) == 20
    failed = events[events["status"] == Status.FAILED]
    assert {bytes(k) for k in failed["key"]} == {correlation_key(ids[5]), correlation_key(ids[12])}
    assert (failed["reason"] == Reason.TRANSPORT).all()
    details = failure_details(run_dir)
    assert list(details.values()) == [2]
    assert next(iter(details)).startswith("MSG_SIZE_TOO_LARGE: ")
    messages = kafka_broker.read_topic(topic, expect=18)
    kept = [n for n in range(20) if n not in (5, 12)]
    assert sorted(json.loads(m["payload"])["n"] for m in messages) == kept
    assert len(read_offsets(run_dir)) == 18


def test_a_full_local_queue_drops_never_delays(kafka_broker: Broker, tmp_path: Path) -> None:
    """A queue of 20 messages that leaves only every 2 s: the rest of a 400/s burst is DROPPED queue-full."""
    topic = kafka_broker.create_topic(partitions=1, prefix="queue")
    run_dir = tmp_path / "run"
    ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "--rate", "400/s",
                     "--count", "200", "--mix", "order=1", "-X", "queue.buffering.max.messages=20",
                     "-X", "linger.ms=2000", "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    events = _accounted(run_dir)
    assert len(events) == 200
    dropped = events[events["status"] == Status.DROPPED]
    assert len(dropped) >= 100
    assert (dropped["reason"] == Reason.QUEUE_FULL).all()
    assert (dropped["sent_ns"] == 0).all()
    lag_ms = (events["sent_ns"][events["sent_ns"] > 0] - events["intended_ns"][events["sent_ns"] > 0]) / 1e6
    assert np.percentile(lag_ms, 50) < 50, "a full queue must not hold the schedule back"
    ok = int((events["status"] == Status.OK).sum())
    assert ok >= 20
    assert len(kafka_broker.read_topic(topic, expect=ok)) == ok
    assert failure_details(run_dir) == {"_QUEUE_FULL: Local: Queue full": len(dropped)}


def test_options_are_parsed_and_secrets_never_recorded() -> None:
    assert parse_url("kafka://a:1,b:2/orders") == ("a:1,b:2", "orders")
    assert parse_url("kafka:///orders", "c:3") == ("c:3", "orders")
    for bad in ("kafka://a:1/", "kafka://a/orders", "kafka://a:1/has space"):
        with pytest.raises(UsageError):
            validate_target(TargetOptions(bad))
    options = KafkaOptions.of({"bootstrap.servers": "h:1", "sasl.password": "env:PW", "linger.ms": "9"},
                              ["linger.ms=20", "sasl.oauthbearer.client.secret=plain"], None)
    shown = options.redacted()
    assert shown["linger.ms"] == "20"
    assert shown["sasl.password"] == "env:PW"
    assert shown["sasl.oauthbearer.client.secret"] == "***"
    assert options.bootstrap == "h:1"
    with pytest.raises(UsageError, match=r"bootstrap\.servers"):
        KafkaOptions.of({}, ["bootstrap.servers=x:1"], None)
    assert redact_argv(["-X", "sasl.password=hunter2", "-Xsasl.password=hunter2", "-X", "linger.ms=5"]) == [
        "-X", "sasl.password=***", "-Xsasl.password=***", "-X", "linger.ms=5"]


def test_kafka_table_in_evtool_toml_names_the_brokers(kafka_broker: Broker, tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(partitions=1, prefix="toml")
    schemas = Path(__file__).resolve().parents[3] / "schemas"
    (tmp_path / "evtool.toml").write_text(
        f'schema_dir = "{schemas}"\n[kafka]\nbootstrap.servers = "{kafka_broker.bootstrap}"\n'
        'linger.ms = 1\n"client.id" = "from-toml"\n')
    ran = run_evtool("simulate", "--target", f"kafka:///{topic}", "--rate", "100/s", "--count", "10",
                     "--run-dir", tmp_path / "run", "-q", cwd=tmp_path)
    assert ran.code == 0, ran.stderr
    transport = RunMeta.read(tmp_path / "run").transport
    assert transport["bootstrap.servers"] == kafka_broker.bootstrap
    assert transport["properties"]["linger.ms"] == "1"
    assert transport["properties"]["client.id"] == "from-toml"
    assert len(kafka_broker.read_topic(topic, expect=10)) == 10


def test_a_secret_written_in_evtool_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "evtool.toml").write_text('[kafka]\n"sasl.password" = "hunter2"\n')
    ran = run_evtool("simulate", "--target", "kafka://127.0.0.1:9/orders", "--rate", "10/s", "--count", "1",
                     "--run-dir", tmp_path / "run", "-q", cwd=tmp_path)
    assert ran.code == 2
    assert "kafka.sasl.password' holds a secret in the file" in ran.stderr
    assert "hunter2" not in ran.stderr


def test_two_sender_processes_each_keep_their_offsets(kafka_broker: Broker, tmp_path: Path) -> None:
    topic = kafka_broker.create_topic(partitions=3, prefix="workers")
    run_dir = tmp_path / "run"
    ran = run_evtool("simulate", "--target", f"kafka://{kafka_broker.bootstrap}/{topic}", "--rate", "200/s",
                     "--duration", "1s", "--processes", "2", "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    assert sorted(p.name for p in run_dir.glob("kafka-offsets-*.bin")) == ["kafka-offsets-0.bin",
                                                                          "kafka-offsets-1.bin"]
    acked = _ok_keys(run_dir)
    assert len(acked) == 200
    assert {bytes(k) for k in read_offsets(run_dir)["key"]} == acked
    assert len(kafka_broker.read_topic(topic, expect=200)) == 200
    assert RunMeta.read(run_dir).transport["partitions"] == 3


def test_the_default_key_is_the_partitionkey_extension_then_the_entity_then_the_subject() -> None:
    """The binding maps `partitionkey` to the message key: a recorded event's own partitionkey wins over
    its data's entity; without one the entity (by type), then the subject; a field path beats all."""
    from evtool.events.envelope import CloudEvent
    from evtool.load.targets.kafka import doc_key_getter, key_getter

    order = {"order_id": "ORD-1", "customer": {"customer_id": "C-9"}}
    given = CloudEvent("e1", "/t", "commerce.order.placed", data=order, extensions={"partitionkey": "P-7"})
    plain = CloudEvent("e2", "/t", "commerce.order.placed", data=order)
    other = CloudEvent("e3", "/t", "custom.kind", data={"x": 1}, subject="S-3")
    bare = CloudEvent("e4", "/t", "custom.kind", data={"x": 1})
    entity = key_getter(None)
    assert [entity(e) for e in (given, plain, other, bare)] == [b"P-7", b"ORD-1", b"S-3", None]
    assert key_getter("data.customer.customer_id")(given) == b"C-9"
    doc_entity = doc_key_getter(None)
    assert [doc_entity(e.to_dict()) for e in (given, plain, other, bare)] == [b"P-7", b"ORD-1", b"S-3", None]
