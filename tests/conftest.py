"""Fixtures that tests in several directories use; the helpers behind them live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.http_servers import RecordingSink, recording_sink


@pytest.fixture
def sink() -> Iterator[RecordingSink]:
    """A real HTTP sink on 127.0.0.1 that records every request (tests/support/http_servers.py)."""
    with recording_sink() as recording:
        yield recording
