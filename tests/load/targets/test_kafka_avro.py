"""`--encoding avro` on the Kafka target, on the real broker: the value read back with fastavro under
the subject version's schema is the event's data; a subject with no Avro schema is one line, exit 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from tests.support.kafka_broker import Broker, run_evtool
from tests.support.kafka_read import read_raw

from evtool.events.envelope import parse_dataschema
from evtool.results.runlog import Status, read_run

pytestmark = pytest.mark.e2e
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def _schema(dataschema: str) -> object:
    ref = parse_dataschema(dataschema)
    assert ref is not None
    return fastavro.parse_schema(json.loads((SCHEMAS / ref[0] / f"{ref[1]}.avsc").read_text()))


@pytest.mark.parametrize("how", ["replay", "simulate"])
def test_avro_values_read_back_with_fastavro_are_the_events_data(
    kafka_broker: Broker, tmp_path: Path, how: str
) -> None:
    log = tmp_path / "orders.jsonl"
    ran = run_evtool("generate", "--count", "40", "--seed", "3", "--mix", "order=1",
                     "--schema-versions", "2:50,3:50", "--schemas", SCHEMAS, "-o", log)
    assert ran.code == 0, ran.stderr
    topic = kafka_broker.create_topic(partitions=2, prefix="avro")
    source = ([how, log, "--as-fast-as-possible"] if how == "replay" else
              [how, "--as-fast-as-possible", "--count", "40", "--seed", "3", "--mix", "order=1",
               "--schema-versions", "2:50,3:50", "--schemas", SCHEMAS])
    run_dir = tmp_path / "run"
    ran = run_evtool(*source, "--encoding", "avro", "--target", f"kafka://{kafka_broker.bootstrap}/{topic}",
                     "--run-dir", run_dir, "-q")
    assert ran.code == 0, ran.stderr
    events = read_run(run_dir).events
    assert len(events) == 40
    assert (events["status"] == Status.OK).all()
    messages = read_raw(kafka_broker.bootstrap, topic, expect=40)
    assert len(messages) == 40
    sent = {json.loads(line)["id"]: json.loads(line) for line in log.read_text().splitlines()}
    versions = set()
    for message in messages:
        assert message.headers["content-type"] == b"application/avro"
        dataschema = message.headers["ce_dataschema"].decode()
        versions.add(dataschema)
        data = fastavro.schemaless_reader(io.BytesIO(message.value), _schema(dataschema), None)
        assert isinstance(data, dict)
        if how == "replay":  # the recorded event's data, field for field
            recorded = sent[message.headers["ce_id"].decode()]
            assert recorded["dataschema"] == dataschema
            assert data == recorded["data"] or _plain(data) == recorded["data"]
        else:
            assert data["order_id"].encode() == message.key, "the key is still the entity"
    assert len(versions) == 2, "each value under its own version's schema"


def _plain(data: dict[str, object]) -> object:
    """fastavro reads logical types back as Python objects (timestamps as datetimes); JSON had ints."""
    import datetime as dt

    def plain(value: object) -> object:
        if isinstance(value, dt.datetime):
            return int(value.timestamp() * 1000)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(data)


def test_a_subject_without_an_avro_schema_is_refused_in_one_line(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic(partitions=1, prefix="avrono")
    target = f"kafka://{kafka_broker.bootstrap}/{topic}"
    ran = run_evtool("simulate", "--rate", "10/s", "--count", "5", "--mix", "order=1,stock=1",
                     "--encoding", "avro", "--schemas", SCHEMAS, "--target", target,
                     "--run-dir", tmp_path / "a", "-q")
    assert ran.code == 2, ran.stderr
    assert "--encoding avro: subject inventory.stock.low" in ran.stderr
    assert "no Avro schema" in ran.stderr
    assert "Traceback" not in ran.stderr
    log = tmp_path / "mixed.jsonl"
    assert run_evtool("generate", "--count", "10", "--seed", "1", "--mix", "order=1,complaint=1",
                      "-o", log).code == 0
    ran = run_evtool("replay", log, "--encoding", "avro", "--as-fast-as-possible", "--target", target,
                     "--run-dir", tmp_path / "b", "-q")
    assert ran.code == 2, ran.stderr
    assert "support.complaint.filed" in ran.stderr
    assert "no Avro schema" in ran.stderr
    ran = run_evtool("simulate", "--rate", "10/s", "--count", "5", "--mix", "order=1", "--encoding", "avro",
                     "--mode", "structured", "--target", target, "--run-dir", tmp_path / "c", "-q")
    assert ran.code == 2, ran.stderr
    assert "--encoding avro with --mode structured" in ran.stderr
    assert kafka_broker.read_topic(topic, timeout_s=1) == [], "nothing sent"
