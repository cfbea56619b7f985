"""The real Kafka broker that tests talk to: its address from EVTOOL_KAFKA_BOOTSTRAP, topics, and kcat.

`scripts/kafka up` starts the broker and `.ci/run` exports its address. Without the variable a
test that needs the broker is skipped with the reason; with EVTOOL_REQUIRE_SERVICES=1 (set by
.ci/run) it fails instead, so CI never goes green without Kafka.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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

    def create_topic(self, partitions: int = 3, prefix: str = "t", config: dict[str, str] | None = None) -> str:
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


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    address = bootstrap_address()
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        missing_service("confluent-kafka is not installed (pip install 'evtool[kafka]')")
    yield Broker(address)
