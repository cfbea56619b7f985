"""Read a topic's messages as bytes with confluent-kafka's own consumer (kcat's JSON output cannot carry
binary values such as Avro)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class RawMessage:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


def read_raw(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 60.0) -> list[RawMessage]:
    """Every message of `topic` from its beginning, until `expect` are read or the timeout."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-read-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[RawMessage] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expect and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            out.append(RawMessage(message.key(), message.value() or b"",
                                  {k: v or b"" for k, v in message.headers() or []},
                                  message.partition() or 0, message.offset() or 0))
    finally:
        consumer.close()
    return out
