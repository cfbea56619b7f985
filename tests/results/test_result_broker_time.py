"""The result record's broker timestamp (`broker_ns`, in what was 8 bytes of padding): older logs
(zeros there) read as "unknown", a Kafka source's timestamps are not taken for damage, garbage is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from runfixtures import MS, T0, Ev, write_run

from evtool.results.report import load_stats
from evtool.results.runlog import RESULT_DTYPE, ResultLogWriter, correlation_key, read_run
from evtool.results.stats import LatencyStats


def _stats(run: Path) -> LatencyStats:
    return load_stats([run], target_ns=2000 * MS, window_ns=1000 * MS)


def test_results_with_broker_timestamps_are_read_and_matched(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Ev(str(i), i * 10) for i in range(50)])
    writer = ResultLogWriter(run, 0)
    for i in range(50):  # as the Kafka source writes them: seen 150 ms after intended, written 5 ms before
        writer.append(correlation_key(str(i)), T0 + (i * 10 + 150) * MS, T0 + (i * 10 + 145) * MS)
    writer.close()
    results = read_run(run).results
    assert results.dtype == RESULT_DTYPE
    assert (results["broker_ns"] == T0 + (np.arange(50) * 10 + 145) * MS).all()
    stats = _stats(run)
    assert stats.counts.matched_results == 50
    assert stats.counts.lost == 0
    assert not any("damaged" in r for r in stats.incomplete), stats.incomplete


def test_an_older_log_reads_broker_time_as_unknown(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Ev(str(i), i * 10, result_ms=[i * 10 + 100]) for i in range(10)])
    raw = (run / "results-0.bin").read_bytes()
    older = np.frombuffer(raw, dtype=np.dtype([("key", "V16"), ("received_ns", "<i8"), ("_pad", "V8")]))
    assert all(bytes(pad) == b"\0" * 8 for pad in older["_pad"])  # what the old layout wrote there
    assert (read_run(run).results["broker_ns"] == 0).all()


def test_a_record_with_an_implausible_broker_time_is_damaged(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", [Ev(str(i), i * 10, result_ms=[i * 10 + 100]) for i in range(10)])
    writer = ResultLogWriter(run, 0)
    writer.append(correlation_key("0"), T0 + 200 * MS, 0x7A7A7A7A7A7A7A7A)  # "zzzzzzzz": garbage
    writer.close()
    stats = _stats(run)
    assert any("results-0.bin: skipped 1 damaged records" in r for r in stats.incomplete), stats.incomplete
    assert stats.counts.matched_results == 10
