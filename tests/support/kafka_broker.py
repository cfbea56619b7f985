"""The real Kafka broker that tests talk to: its address from EVTOOL_KAFKA_BOOTSTRAP, topics, and kcat.

(`run_evtool` and `Ran` are tests/support/cli.py's, named here too for the Kafka tests that import
them from here.)

`scripts/kafka up` starts the broker and `.ci/run` exports its address. Without the variable a
test that needs the broker is skipped with the reason; with EVTOOL_REQUIRE_SERVICES=1 (set by
.ci/run) it fails instead, so CI never goes green without Kafka.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import Ran, run_evtool

BOOTSTRAP_VAR = "EVTOOL_KAFKA_BOOTSTRAP"
REQUIRE_VAR = "EVTOOL_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_VAR, "") not in ("", "0")


def missing_service(reason: str) -> None:
    """Skip with the reason, or fail when the run requires its services."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_VAR}=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def bootstrap_address() -> str:
    address = os.environ.get(BOOTSTRAP_VAR, "").strip()
    if not address:
        missing_service(f"no Kafka broker: set {BOOTSTRAP_VAR} (scripts/kafka up; eval $(scripts/kafka env))")
    return address


@dataclass(frozen=True)
class Broker:
    bootstrap: str

    def create_topic(
        self, partitions: int = 3, prefix: str = "t", config: dict[str, str] | None = None
    ) -> str:
        """A new topic with a unique name, created and visible before returning."""
        from confluent_kafka.admin import AdminClient, NewTopic

        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
            operation_timeout=15,
        )
        futures[name].result(timeout=20)
        return name

    def kcat(self, *args: str, timeout_s: float = 60.0) -> bytes:
        """Run kcat against this broker; its stdout."""
        exe = shutil.which("kcat")
        if exe is None:
            missing_service("kcat is not installed (apt-get install -y kcat)")
            raise AssertionError  # unreachable: missing_service raises
        done = subprocess.run(
            [exe, "-b", self.bootstrap, *args], capture_output=True, timeout=timeout_s, check=False
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout


    def read_topic(
        self, topic: str, *, expect: int | None = None, timeout_s: float = 60.0
    ) -> list[dict[str, Any]]:
        """Every message of `topic` as kcat's JSON envelope (topic, partition, offset, headers as a flat
        [name, value, ...] list, key, payload); with `expect`, retried until that many are seen."""
        deadline = time.monotonic() + timeout_s
        while True:
            out = self.kcat("-C", "-J", "-t", topic, "-o", "beginning", "-e", "-q")
            messages = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
            if expect is None or len(messages) >= expect or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kafka"


class OwnBroker:
    """A broker of the test's own (scripts/kafka with its own state dir), to stop and start mid-run."""

    def __init__(self, state_dir: Path) -> None:
        self._env = {**os.environ, "EVTOOL_KAFKA_STATE": str(state_dir)}
        self.bootstrap = ""

    def _script(self, command: str) -> str:
        done = subprocess.run([sys.executable, str(SCRIPT), command], env=self._env, capture_output=True,
                              text=True, timeout=180, check=False)
        assert done.returncode == 0, f"scripts/kafka {command}: {done.stderr}"
        return done.stdout.strip()

    def up(self) -> Broker:
        self.bootstrap = self._script("up")
        return Broker(self.bootstrap)

    def stop(self) -> None:
        self._script("stop")

    def start(self) -> None:
        assert self._script("start") == self.bootstrap

    def down(self) -> None:
        self._script("down")


@pytest.fixture
def own_kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    """Needs the same services as `kafka_broker` (its jars are what scripts/kafka up installed)."""
    bootstrap_address()
    broker = OwnBroker(tmp_path_factory.mktemp("kafka-state"))
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture(scope="session")
def kafka_broker() -> Broker:
    address = bootstrap_address()
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        missing_service("confluent-kafka is not installed (pip install 'evtool[kafka]')")
    return Broker(address)


__all__ = ["Broker", "OwnBroker", "Ran", "bootstrap_address", "kafka_broker", "missing_service",
           "own_kafka_broker", "run_evtool", "services_required"]
