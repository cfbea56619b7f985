from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evtool.results.runlog import (
    EVENT_DTYPE,
    RESULT_DTYPE,
    EventLogWriter,
    ResultLogWriter,
    RunMeta,
    Status,
    correlation_key,
    read_run,
)


def _meta() -> RunMeta:
    return RunMeta(
        run_id="r1",
        command=["evtool"],
        options={},
        tool_version="0",
        target="-",
        clock_origin_ns=0,
        started_at="2026-01-01T00:00:00Z",
    )


def test_shards_merge_with_type_names_remapped(tmp_path: Path) -> None:
    _meta().write(tmp_path)
    first = EventLogWriter(tmp_path, 0)
    second = EventLogWriter(tmp_path, 1)
    first.append(
        key=correlation_key("a"),
        event_type="order",
        schema_version=1,
        intended_ns=10,
        sent_ns=11,
        ack_ns=15,
        status=Status.OK,
        http_status=202,
        attempts=1,
    )
    second.append(
        key=correlation_key("b"),
        event_type="complaint",
        schema_version=2,
        intended_ns=20,
        sent_ns=0,
        ack_ns=0,
        status=Status.DROPPED,
    )
    second.append(
        key=correlation_key("c"),
        event_type="order",
        schema_version=3,
        intended_ns=30,
        sent_ns=31,
        ack_ns=40,
        status=Status.OK,
    )
    first.close()
    second.close()
    run = read_run(tmp_path)
    names = [run.types[t] for t in run.events["type"]]
    assert names == ["order", "complaint", "order"]
    assert run.events["schema_version"].tolist() == [1, 2, 3]
    assert run.events["ack_ns"].tolist() == [15, 0, 40]
    assert run.skipped_bytes == 0


def test_torn_last_record_is_skipped_and_counted(tmp_path: Path) -> None:
    _meta().write(tmp_path)
    writer = EventLogWriter(tmp_path)
    for i in range(3):
        writer.append(
            key=correlation_key(str(i)),
            event_type="t",
            schema_version=1,
            intended_ns=i,
            sent_ns=i,
            ack_ns=i,
            status=Status.OK,
        )
    writer.close()
    shard = tmp_path / "events-0.bin"
    shard.write_bytes(shard.read_bytes()[:-5])
    results = ResultLogWriter(tmp_path)
    results.append(correlation_key("1"), 99)
    results.close()
    run = read_run(tmp_path)
    assert len(run.events) == 2
    assert run.skipped_bytes == 56 - 5
    assert run.results["key"][0] == np.void(correlation_key("1"))


def test_uuid_correlation_keys_are_the_uuid_bytes() -> None:
    value = "6f1c2a9e-8d4b-4e7a-9a51-2f0c3b7d9e11"
    assert correlation_key(value).hex() == value.replace("-", "")
    assert correlation_key("ORD-00000001") != correlation_key("ORD-00000002")


def test_ready_made_records_append_in_one_write(tmp_path: Path) -> None:
    _meta().write(tmp_path)
    writer = EventLogWriter(tmp_path)
    index = writer.type_index("order")
    rows = np.zeros(3, dtype=EVENT_DTYPE)
    rows["type"] = index
    rows["intended_ns"] = [1, 2, 3]
    rows["status"] = Status.OK
    writer.append_records(rows)
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        writer.append_records(np.zeros(1, dtype=RESULT_DTYPE))
    writer.close()
    run = read_run(tmp_path)
    assert run.events["intended_ns"].tolist() == [1, 2, 3]
    assert [run.types[t] for t in run.events["type"]] == ["order"] * 3
    assert writer.written == 3
