"""Bad collector input is one clear line and exit 2 (real `evtool` processes; no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cli import run_evtool
from tests.support.filesystems import unwritable_dir

pytestmark = pytest.mark.e2e


def _evtool(*argv: str) -> tuple[int, list[str]]:
    done = run_evtool(*argv, timeout_s=60)
    return done.code, [line for line in done.stderr.splitlines() if line.strip()]


def _one_clear_line(code: int, lines: list[str], *words: str) -> None:
    assert code == 2, lines
    assert lines, "no message"
    assert not any("Traceback" in line for line in lines), lines
    assert len(lines) <= 2, lines  # the error, and at most its hint
    assert lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], lines


def test_consumer_serve_port_out_of_range() -> None:
    code, lines = _evtool("consumer", "serve", "--port", "99999", "--duration", "1s")
    _one_clear_line(code, lines, "--port", "99999")


def test_collect_option_port_out_of_range_is_refused_not_wrapped(tmp_path: Path) -> None:
    """70000 used to bind 70000 & 0xFFFF = 4464."""
    code, lines = _evtool("simulate", "-t", "-", "--rate", "5/s", "--count", "1",
                          "--collect", "127.0.0.1:70000", "--run-dir", str(tmp_path / "r"))
    _one_clear_line(code, lines, "--collect", "70000")
    assert not (tmp_path / "r").exists()


def test_collect_option_unknown_scheme(tmp_path: Path) -> None:
    code, lines = _evtool("simulate", "-t", "-", "--rate", "5/s", "--count", "1",
                          "--collect", "ftp://127.0.0.1:21", "--run-dir", str(tmp_path / "r"))
    _one_clear_line(code, lines, "--collect", "ftp")


def test_collect_run_dir_that_cannot_be_written(tmp_path: Path) -> None:
    with unwritable_dir(tmp_path / "ro"):
        code, lines = _evtool("collect", "--listen", "127.0.0.1:0", "--duration", "1s",
                              "--run-dir", str(tmp_path / "ro" / "run"))
        _one_clear_line(code, lines, "--run-dir")
        code, lines = _evtool("collect", "--listen", "127.0.0.1:0", "--duration", "1s",
                              "--run-dir", str(tmp_path / "ro"))
        _one_clear_line(code, lines, "--run-dir")


def test_collect_run_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, lines = _evtool("collect", "--listen", "127.0.0.1:0", "--duration", "1s",
                          "--run-dir", str(tmp_path / "file"))
    _one_clear_line(code, lines, "--run-dir", "not a directory")


def test_collect_stops_at_the_first_write_error_with_one_line(tmp_path: Path) -> None:
    """A full disk under `evtool collect`: it stops by itself, exit 2, one line with the OS error."""
    import asyncio
    import json
    import time

    import aiohttp
    from tests.support.collector_load import collector_process
    from tests.support.filesystems import tiny_tmpfs

    async def fill(url: str) -> list[int]:
        batch = json.dumps([{"correlationid": f"v-{i}"} for i in range(500)]).encode()
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(40):  # 640 kB of records for a 64 kB filesystem
                try:
                    async with session.post(url, data=batch) as response:
                        statuses.append(response.status)
                except aiohttp.ClientError:
                    statuses.append(0)  # it stopped listening
                await asyncio.sleep(0.06)
        return statuses

    with tiny_tmpfs(tmp_path / "full"), collector_process(tmp_path / "full" / "run") as collector:
        statuses = asyncio.run(fill(collector.url))
        deadline = time.monotonic() + 15
        while collector.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        exited_by_itself = collector.process.poll() is not None
        code, _, err = collector.stop()
    assert 202 in statuses
    assert statuses[-1] != 202
    assert exited_by_itself
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    _one_clear_line(code, lines, "results-0.bin", "No space left on device")
    assert "Traceback" not in err
