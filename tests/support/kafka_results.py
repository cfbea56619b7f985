"""Results on a real Kafka topic for the result source's tests: a writer of result records
(good, garbage, another run's) and the reference Kafka consumer as a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from evtool.results.runlog import EventIds

Record = tuple[bytes | None, list[tuple[str, bytes]]]  # (value, headers)


def binary_result(correlation: str) -> Record:
    """A decision in CloudEvents binary mode, correlated by its `ce_correlationid` header."""
    headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
               ("ce_source", b"tests/kafka-results"), ("ce_type", b"ai.decision.test"),
               ("ce_correlationid", correlation.encode()), ("content-type", b"application/json")]
    return b'{"decision": "ok"}', headers


def structured_result(correlation: str) -> Record:
    """A decision in structured mode: the correlation is the value's `correlationid` member."""
    value = (b'{"specversion":"1.0","id":"%s","source":"tests","type":"ai.decision.test",'
             b'"correlationid":"%s","data":{}}' % (str(uuid.uuid4()).encode(), correlation.encode()))
    return value, [("content-type", b"application/cloudevents+json")]


GARBAGE: tuple[Record, ...] = (
    (b"\x00\xff not json at all", []),  # no ce_ headers, not JSON
    (b"[1, 2, 3]", []),  # JSON, not an event object
    (None, []),  # a tombstone
    (b'{"specversion": "1.0", "id": "x"', [("content-type", b"application/cloudevents+json")]),  # cut short
    (b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"x"), ("ce_correlationid", b"\xff\xfe")]),  # not UTF-8
)


def foreign_ids(count: int) -> list[str]:
    """Structured event ids of another run (another nonce): what another generator node would write."""
    ids = EventIds(0)
    return [ids.next()[0] for _ in range(count)]


def produce(bootstrap: str, topic: str, records: Sequence[Record], *,
            timestamp_ms: int | None = None) -> None:
    """Write `records` and wait until the broker has them all."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failed: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failed.append(str(error))

    for value, headers in records:
        kwargs = {"timestamp": timestamp_ms} if timestamp_ms is not None else {}
        producer.produce(topic, value, headers=headers, on_delivery=delivered, **kwargs)
        producer.poll(0)
    assert producer.flush(30) == 0, "records not delivered"
    assert not failed, failed


class TrickleWriter:
    """Writes `records` to a topic over `seconds` from a thread (noise during a run)."""

    def __init__(self, bootstrap: str, topic: str, records: Sequence[Record], seconds: float) -> None:
        self._args = (bootstrap, topic, records, seconds)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        bootstrap, topic, records, seconds = self._args
        try:
            step = max(1, len(records) // 20)
            for start in range(0, len(records), step):
                produce(bootstrap, topic, records[start:start + step])
                time.sleep(seconds / 20)
        except BaseException as exc:
            self.error = exc

    def start(self) -> TrickleWriter:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive()
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def reference_consumer(bootstrap: str, source: str, sink: str, *, service_time: str, workers: int = 128,
                       log: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    """`evtool consumer serve --source … --sink …` in a subprocess, returned once it is assigned
    (its "reference consumer reading" line); SIGTERM at the end."""
    group = f"ref-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "evtool", "consumer", "serve", "--source", f"kafka://{bootstrap}/{source}",
         "--sink", f"kafka://{bootstrap}/{sink}", "--service-time", service_time, "--jitter", "0",
         "--concurrency", str(workers), "--group", group, "--duration", "300s"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "COLUMNS": "300"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "reference consumer reading" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(60):
            raise AssertionError(f"the reference consumer did not get ready: {''.join(lines)}")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        reader.join(5)
        if log is not None:
            log.write_text("".join(lines), encoding="utf-8")
