"""Without a broker, Kafka tests skip with the reason; with EVTOOL_REQUIRE_SERVICES=1 (CI) they fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("require", "outcome", "code"), [("", "SKIPPED", 0), ("1", "ERROR", 1)])
def test_no_broker_skips_or_fails(require: str, outcome: str, code: int) -> None:
    dropped = ("EVTOOL_KAFKA_BOOTSTRAP", "EVTOOL_REQUIRE_SERVICES")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    if require:
        env["EVTOOL_REQUIRE_SERVICES"] = require
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rsf", "-p", "no:cacheprovider",
         "tests/load/targets/test_kafka.py::test_missing_topic_is_exit_2_within_10s"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == code, done.stdout
    assert outcome in done.stdout, done.stdout
    assert "no Kafka broker: set EVTOOL_KAFKA_BOOTSTRAP" in done.stdout
