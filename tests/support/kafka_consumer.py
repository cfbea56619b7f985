"""The Kafka reference consumer as a process a test crashes and restarts, and a reader that counts what a
topic holds per event id (the decisions' `ce_correlationid`, the events' `ce_id`)."""

from __future__ import annotations

import collections
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.support.cli import spawn

READY = "reference consumer reading"


@dataclass
class ConsumerProcess:
    """`evtool consumer serve --source … --sink …`, its stderr collected by a thread."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if READY in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                time.sleep(0.2)
                code = self.process.poll()
                raise AssertionError(f"the consumer did not get ready ({code}):\n{self.output}")

    def wait(self, timeout_s: float = 120.0) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the consumer did not end in {timeout_s} s:\n{self.output}") from None

    def stop(self, timeout_s: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)


def start_consumer(bootstrap: str, source: str, sink: str, *args: str) -> ConsumerProcess:
    """A consumer process reading `source` and writing `sink` (topic names), returned once it is assigned."""
    process = spawn(["consumer", "serve", "--source", f"kafka://{bootstrap}/{source}",
                     "--sink", f"kafka://{bootstrap}/{sink}", "--duration", "300s", *args])
    handle = ConsumerProcess(process)
    threading.Thread(target=handle._read, daemon=True).start()
    try:
        handle.wait_ready()
    except BaseException:
        handle.stop(10)
        raise
    return handle


def count_by_header(bootstrap: str, topic: str, header: str, *, committed: bool = True,
                    timeout_s: float = 60.0) -> collections.Counter[str]:
    """How many records of `topic` carry each value of `header`, read from the beginning to the end
    every partition had when reading began (`committed`: isolation.level=read_committed)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed" if committed else "read_uncommitted"})
    try:
        partitions = consumer.list_topics(topic, 10).topics[topic].partitions
        ends = {}
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        counts: collections.Counter[str] = collections.Counter()
        left = {p for p, high in ends.items() if high > 0}
        deadline = time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.2):
                error = message.error()
                p = message.partition()
                if error is not None:
                    if error.code() == error._PARTITION_EOF:
                        position = consumer.position([TopicPartition(topic, p)])[0].offset
                        if position >= ends[p]:
                            left.discard(p)
                    continue
                if (message.offset() or 0) >= ends[p] - 1:
                    left.discard(p)  # read_committed may end short of it at an aborted batch's marker
                for name, value in message.headers() or []:
                    if name == header and value is not None:
                        counts[value.decode()] += 1
        assert not left, f"{topic}: partitions {sorted(left)} not read to their end in {timeout_s} s"
        return counts
    finally:
        consumer.close()
