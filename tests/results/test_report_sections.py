"""What the report says about a run beyond its latencies, in every format: the transport and its
settings, partitions touched, failures by reason in words, the collector's counts, the stages."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from runfixtures import MS, Ev, write_run

from evtool.cli.views import render_report_text
from evtool.results.render_html import render_html
from evtool.results.render_markdown import render_markdown
from evtool.results.report import build_document, load_stats, render_json
from evtool.results.runlog import EVENT_DTYPE, EventIds, Reason, Status, read_run
from evtool.results.stats import compute_stats

KAFKA_SIZE = "MSG_SIZE_TOO_LARGE: Broker: Message size too large"
KAFKA_SETTINGS: dict[str, Any] = {
    "transport": "kafka", "bootstrap.servers": "127.0.0.1:9092", "topic": "orders", "partitions": 3,
    "properties": {"acks": "all", "enable.idempotence": "true", "linger.ms": "5", "sasl.password": "***"},
}


def _text(doc: dict[str, Any]) -> str:
    console = Console(record=True, width=200, no_color=True, file=io.StringIO())
    render_report_text(doc, console)
    return console.export_text()


def _html_text(doc: dict[str, Any]) -> str:
    """The HTML report's visible text, tags dropped and entities undone (what a reader sees)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", render_html(doc)))


FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": _text, "markdown": render_markdown, "html": _html_text, "json": render_json,
}


def _doc(run_dir: Path) -> dict[str, Any]:
    return build_document(load_stats([run_dir], target_ns=2_000_000_000, window_ns=5_000_000_000))


def _kafka_run(tmp_path: Path) -> Path:
    events = [Ev(f"k{i}", i * 10, result_ms=[i * 10 + 50], ack_ms=i * 10 + 8, sent_ms=i * 10 + 2,
                 partition=i % 3 if i < 60 else 2) for i in range(100)]
    events += [Ev(f"f{i}", 1000 + i, status=Status.FAILED, reason=Reason.TRANSPORT, http_status=0,
                  detail=KAFKA_SIZE) for i in range(12)]
    events += [Ev(f"t{i}", 1020 + i, status=Status.FAILED, reason=Reason.TIMEOUT, http_status=0,
                  detail="_MSG_TIMED_OUT: Local: Message timed out") for i in range(2)]
    events += [Ev(f"d{i}", 1030 + i, status=Status.DROPPED, reason=Reason.QUEUE_FULL) for i in range(5)]
    return write_run(tmp_path / "kafka", events, target="kafka://127.0.0.1:9092/orders",
                     transport=KAFKA_SETTINGS)


def test_failures_are_named_by_reason_and_detail_text_in_every_format(tmp_path: Path) -> None:
    """The lines a reader needs: how many events failed, and why, in the transport's words."""
    kafka = _doc(_kafka_run(tmp_path))
    http_events = [Ev(f"h{i}", i * 5, status=Status.FAILED, reason=Reason.HTTP_STATUS,
                      http_status=500 if i < 30 else 501) for i in range(40)]
    http_events += [Ev(f"o{i}", 300 + i, result_ms=[400 + i]) for i in range(10)]
    http_events += [Ev("c0", 500, status=Status.FAILED, reason=Reason.CONNECT, http_status=0),
                    Ev("m0", 501, status=Status.DROPPED, reason=Reason.MAX_IN_FLIGHT),
                    Ev("a0", 502, status=Status.DROPPED, reason=Reason.CANCELLED)]
    http = _doc(write_run(tmp_path / "http", http_events))

    assert [f["line"] for f in kafka["failures"]] == [
        f"failed 12: kafka {KAFKA_SIZE}", "dropped 5: queue-full",
        "failed 2: kafka _MSG_TIMED_OUT: Local: Message timed out"]
    assert kafka["failures"][0] == {"outcome": "failed", "reason": "TRANSPORT", "http_status": None,
                                    "detail": KAFKA_SIZE, "text": f"kafka {KAFKA_SIZE}", "count": 12,
                                    "line": f"failed 12: kafka {KAFKA_SIZE}"}
    # a record with a failure text is a good record, not a damaged one (the text's index is no padding)
    assert kafka["incomplete"] == []
    assert kafka["counts"]["failed"] == 14
    assert [f["line"] for f in http["failures"]] == [
        "failed 30: HTTP 500", "failed 10: HTTP 501", "aborted 1: unsent when the run ended",
        "dropped 1: max-in-flight", "failed 1: connect error (refused, reset or DNS)"]
    assert http["failures"][0]["http_status"] == 500
    for name, render in FORMATS.items():
        kafka_view, http_view = render(kafka), render(http)
        for view, lines in ((kafka_view, (f"failed 12: kafka {KAFKA_SIZE}", "dropped 5: queue-full")),
                            (http_view, ("failed 30: HTTP 500", "failed 10: HTTP 501"))):
            for line in lines:  # the HTML table has a cell each: outcome, reason, count
                shown = _cells(line) in _squash(view) if name == "html" else line in view
                assert shown, (name, line)


def _cells(line: str) -> str:
    """A failure line as the HTML table has it: outcome, text, count."""
    outcome, rest = line.split(" ", 1)
    count, text = rest.split(": ", 1)
    return f"{outcome} {text} {count}"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_transport_target_topic_partitions_and_settings_in_every_format(tmp_path: Path) -> None:
    doc = _doc(_kafka_run(tmp_path))
    run = doc["runs"][0]
    assert run["transport"] == "kafka"
    assert run["target"] == "kafka://127.0.0.1:9092/orders"
    assert run["topic"] == "orders"
    # acked events per partition, from kafka-offsets-0.bin (i % 3 for the first 60, then all on 2)
    assert run["partitions"] == {"0": 20, "1": 20, "2": 60}
    assert run["settings"]["properties"]["acks"] == "all"
    for name, render in FORMATS.items():
        view = _squash(render(doc))
        if name == "json":
            continue
        assert "kafka → kafka://127.0.0.1:9092/orders · topic orders" in view, name
        assert "3 partition(s) touched: 0: 20, 1: 20, 2: 60" in view, name
        for setting in ("acks=all", "enable.idempotence=true", "linger.ms=5"):
            assert setting in view, (name, setting)
        assert "sasl.password=***" in view, name
    http = _doc(write_run(tmp_path / "http", [Ev("k", 0, result_ms=[30])], target="http://127.0.0.1:9/events"))
    assert http["runs"][0]["transport"] == "http"
    assert http["runs"][0]["partitions"] == {}
    assert "partition" not in _text(http)
    assert "http → http://127.0.0.1:9/events" in _text(http)


def test_collector_counts_in_every_format_and_foreign_results_are_not_lost(tmp_path: Path) -> None:
    """Results of other runs and repeats are counted as such; no event is lost for them."""
    events = [Ev(f"k{i}", i * 10, result_ms=[i * 10 + 40] + ([i * 10 + 45] if i < 3 else []))
              for i in range(50)]
    counts = {"requests": 60, "results": 57, "uncorrelated": 4, "unreadable": 6, "matched_to_run": True,
              "matched": 50, "unacked": 0, "duplicates": 3, "foreign": 4,
              "rejected": {"HTTP 400: not a CloudEvent": 6}, "problems": {"body too large": 1}, "notes": []}
    run_dir = write_run(tmp_path / "run", events, extra_results=[(f"other-run-{i}", 100) for i in range(4)],
                        collector_counts=counts)
    doc = _doc(run_dir)
    assert doc["verdict"] == "PASS", doc["verdict_line"]
    c = doc["counts"]
    assert (c["lost"], c["ok"], c["duplicate_results"], c["unmatched_results"]) == (0, 50, 3, 4)
    assert (c["uncorrelated_results"], c["unreadable_results"]) == (4, 6)  # no longer summed into one
    assert doc["collector"] == {
        "results": 57, "uncorrelated": 4, "unreadable": 6, "matched": 50, "unacked": 0, "duplicates": 3,
        "foreign": 4, "rejected": {"HTTP 400: not a CloudEvent": 6}, "problems": {"body too large": 1},
        "files": 1, "matched_to_run": True}
    expected = ("collector: 57 results = matched 50 + unacked 0 + duplicates 3 + foreign 4 (duplicates and "
                "foreign are not lost events); uncorrelated 4, unreadable 6; rejected HTTP 400: not a "
                "CloudEvent: 6; problems body too large: 1")
    for name, render in FORMATS.items():
        if name != "json":
            assert expected in _squash(render(doc)), name
    assert json.loads(render_json(doc))["collector"]["foreign"] == 4
    assert _doc(write_run(tmp_path / "none", events[:3]))["collector"] is None


def test_stage_breakdown_in_every_format(tmp_path: Path) -> None:
    """intended -> sent 2 ms, sent -> acked 6 ms, acked -> result seen 42 ms: each stage its own p50."""
    doc = _doc(_kafka_run(tmp_path))
    stages = {s["metric"]: s for s in doc["stages"]}
    assert list(stages) == ["scheduling_lag", "service", "ack", "ack_to_result", "end_to_end"]
    expected = {"scheduling_lag": 2.0, "service": 6.0, "ack": 8.0, "ack_to_result": 42.0, "end_to_end": 50.0}
    for metric, ms in expected.items():
        assert stages[metric]["p50_ms"] == pytest.approx(ms, rel=0.01), metric
        assert stages[metric]["p99_ms"] == pytest.approx(ms, rel=0.01), metric
        # the failed events were sent too: they have a scheduling lag
        assert stages[metric]["count"] == (114 if metric == "scheduling_lag" else 100)
        assert stages[metric]["approximate"] is False
    assert stages["ack_to_result"]["stage"] == "acked → result seen"
    assert "approximate" not in doc["stages_note"]  # no stage here crosses two clocks
    for name, render in FORMATS.items():
        view = _squash(render(doc))
        assert "acked → result seen" in view.replace("\\u2192", "→"), name
        if name != "json":
            assert re.search(r"acked → result seen[\s|│]+100[\s|│]+42\.0 ms", view), name
            assert "percentiles of stages do not add up" in view, name
    # without a collector, only the stages up to the ack
    no_results = _doc(write_run(tmp_path / "acks", [Ev("k", 0)], collector=False))
    assert [s["metric"] for s in no_results["stages"]] == ["scheduling_lag", "service", "ack"]


@pytest.mark.parametrize("ids", ["structured", "hashed"])
def test_result_written_stages_when_results_carry_their_broker_timestamp(tmp_path: Path, ids: str) -> None:
    """The hook for a Kafka result source: a `broker_ns` result field splits acked -> seen in two,
    on both joins (simulate's structured ids, and any other key)."""
    structured = EventIds(0)
    keys = [structured.next()[0] if ids == "structured" else f"k{i}" for i in range(20)]
    run_dir = write_run(tmp_path / "run", [Ev(key, i * 10, ack_ms=i * 10 + 10, result_ms=[i * 10 + 60])
                                           for i, key in enumerate(keys)])
    log = read_run(run_dir)
    with_broker = np.dtype([("key", "V16"), ("received_ns", "<i8"), ("broker_ns", "<i8")])
    results = np.zeros(len(log.results), dtype=with_broker)
    results["key"] = log.results["key"]
    results["received_ns"] = log.results["received_ns"]
    results["broker_ns"] = log.results["received_ns"] - 15 * MS  # written 15 ms before it was seen
    results["broker_ns"][:5] = 0  # unknown for some: they join the other stages only
    log.results = results
    doc = build_document(compute_stats([log], [run_dir]))
    stages = {s["metric"]: s for s in doc["stages"]}
    assert stages["ack_to_written"]["count"] == 15
    assert stages["ack_to_written"]["p50_ms"] == pytest.approx(35.0, rel=0.01)
    assert stages["written_to_seen"]["p50_ms"] == pytest.approx(15.0, rel=0.01)
    assert stages["written_to_seen"]["approximate"] is True
    assert stages["ack_to_result"]["count"] == 20
    assert doc["incomplete"] == []  # a field in the spare bytes is no damage
    assert "broker → this host (approximate)" in _text(doc)
    assert "broker's timestamp and this host's clock are approximate" in _squash(_text(doc))


def test_damaged_event_padding_is_still_found(tmp_path: Path) -> None:
    """The padding check moved past `detail`; garbage in the padding itself must still be caught."""
    run_dir = write_run(tmp_path / "run", [Ev(f"k{i}", i, result_ms=[i + 20]) for i in range(10)])
    path = run_dir / "events-0.bin"
    raw = bytearray(path.read_bytes())
    raw[3 * EVENT_DTYPE.itemsize + EVENT_DTYPE.itemsize - 1] = 0x7F  # the last padding byte of record 3
    path.write_bytes(bytes(raw))
    doc = _doc(run_dir)
    assert doc["counts"]["scheduled"] == 9
    assert any("skipped 1 damaged records" in r for r in doc["incomplete"])

