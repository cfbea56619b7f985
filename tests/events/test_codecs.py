from __future__ import annotations

import io
from pathlib import Path

import pytest

from evtool.catalog import Catalog
from evtool.errors import InputError
from evtool.events import (
    EventStream,
    GenerateOptions,
    iter_events,
    parse_flow,
    read_jsonl,
    write_avro,
    write_jsonl,
)


def _stream(catalog: Catalog, count: int = 2000, seed: int = 2) -> EventStream:
    return EventStream(catalog, GenerateOptions(count=count, seed=seed, flow=parse_flow("order-lifecycle")))


def _jsonl(events: object) -> bytes:
    out = io.BytesIO()
    write_jsonl(events, out)  # type: ignore[arg-type]
    return out.getvalue()


def test_jsonl_is_one_event_per_line_and_reads_back(catalog: Catalog, tmp_path: Path) -> None:
    raw = _jsonl(_stream(catalog))
    assert raw.count(b"\n") == 2000
    path = tmp_path / "log.jsonl"
    path.write_bytes(raw)
    assert _jsonl(iter_events(path)) == raw
    assert [e.id for e in read_jsonl(io.BytesIO(raw))] == [e.id for e in _stream(catalog)]


def test_avro_container_round_trips_and_is_reproducible(catalog: Catalog, tmp_path: Path) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    assert write_avro(_stream(catalog), first, catalog) == 2000
    write_avro(_stream(catalog), second, catalog)
    assert first.getvalue() == second.getvalue()
    path = tmp_path / "log.avro"
    path.write_bytes(first.getvalue())
    # the file carries its writer schemas: readable without the catalogue, same events as JSONL
    assert _jsonl(iter_events(path)) == _jsonl(_stream(catalog))


def test_avro_container_is_readable_by_a_plain_avro_reader(catalog: Catalog) -> None:
    import fastavro

    out = io.BytesIO()
    write_avro(EventStream(catalog, GenerateOptions(count=50)), out, catalog)
    out.seek(0)
    reader = fastavro.reader(out)
    records = [r for r in reader if isinstance(r, dict)]
    assert len(records) == 50
    assert {r["type"] for r in records} <= set(catalog.subjects)
    assert b"evtool.schemas" in out.getvalue()[:4096]


def test_bad_log_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"specversion":"1.0","id":"1","source":"s","type":"t"}\n\nnot json\n')
    events = iter_events(path)
    assert next(events).id == "1"
    with pytest.raises(InputError, match=r"bad.jsonl:3"):
        next(events)
    with pytest.raises(InputError, match="cannot open"):
        list(iter_events(tmp_path / "missing.jsonl"))
