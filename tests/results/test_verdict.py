"""The verdict a release gate reads: never PASS on a run that cannot stand behind its numbers,
default objectives that are the promise, censored latencies said as such, in every format."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from runfixtures import Ev, write_run

from evtool.cli.views import render_report_text
from evtool.errors import ExitCode
from evtool.results.render_html import render_html
from evtool.results.render_markdown import render_markdown
from evtool.results.report import build_document, load_stats, render_json
from evtool.results.runlog import EVENT_DTYPE, RESULT_DTYPE, Reason, Status
from evtool.results.slo import Verdict, evaluate, parse_slos
from evtool.results.stats import E2E

MS = 1_000_000


def _fast(n: int = 100) -> list[Ev]:
    return [Ev(str(i), i * 10, result_ms=[i * 10 + 150]) for i in range(n)]


def _doc(*dirs: Path, slos: list[str] | None = None, target_ms: int = 2000) -> dict[str, Any]:
    stats = load_stats(list(dirs), target_ns=target_ms * MS, window_ns=1000 * MS)
    return build_document(stats, parse_slos(slos, target_ms * MS) if slos else None)


def _text(doc: dict[str, Any]) -> str:
    console = Console(record=True, width=200, no_color=True, file=io.StringIO())
    render_report_text(doc, console)
    return console.export_text()


def _every_format(doc: dict[str, Any]) -> dict[str, str]:
    return {"text": _text(doc), "json": render_json(doc), "markdown": render_markdown(doc),
            "html": render_html(doc)}


# -- INCOMPLETE -----------------------------------------------------------------------------


def test_a_run_without_a_clean_end_is_incomplete_in_every_format(tmp_path: Path) -> None:
    """Killed (or still running): meta.json has no `ended_at`. The numbers alone would PASS."""
    run = write_run(tmp_path / "killed", _fast(), ended=False)
    doc = _doc(run)
    assert doc["verdict"] == "INCOMPLETE"
    assert doc["exit_code"] == ExitCode.CHECK_FAILED
    assert [s["passed"] for s in doc["slos"]] == [True, True, True]  # still judged and shown
    (reason,) = doc["incomplete"]
    assert "the run has not ended (still running, or killed)" in reason
    assert str(run) in reason
    for name, text in _every_format(doc).items():
        shown = text.split("<body>")[-1]  # not the stylesheet, which names every verdict
        assert "INCOMPLETE" in shown, name
        assert "PASS" not in shown, name
        assert "has not ended (still running, or killed)" in text, name
    assert render_markdown(doc).startswith("## ⛔ Latency report: INCOMPLETE")
    assert "<span class='verdict INCOMPLETE'>INCOMPLETE</span>" in render_html(doc)
    assert _text(doc).startswith("INCOMPLETE")


def test_the_runs_own_incomplete_reasons_make_it_incomplete(tmp_path: Path) -> None:
    reason = "events-0.bin: write failed: No space left on device; sending stopped"
    run = write_run(tmp_path / "full", _fast(), incomplete=[reason])
    doc = _doc(run)
    assert doc["verdict"] == "INCOMPLETE"
    assert doc["incomplete"] == [f"{run}: {reason}"]
    assert reason in _text(doc)


def test_incomplete_outranks_a_failure_and_not_measurable(tmp_path: Path) -> None:
    slow_sender = [Ev(str(i), i, sent_ms=i + 500, ack_ms=i + 510, result_ms=[i + 3000]) for i in range(100)]
    doc = _doc(write_run(tmp_path / "r", slow_sender, ended=False))
    assert doc["verdict"] == "INCOMPLETE"
    assert doc["not_measurable"]  # the other reason is still said
    assert doc["slos"][1]["passed"] is False


def test_a_torn_last_record_after_a_kill_is_a_note_not_a_second_reason(tmp_path: Path) -> None:
    run = write_run(tmp_path / "killed", _fast(), ended=False)
    shard = run / "events-0.bin"
    shard.write_bytes(shard.read_bytes()[:-20])  # kill -9 mid-write
    doc = _doc(run)
    assert doc["verdict"] == "INCOMPLETE"
    assert len(doc["incomplete"]) == 1
    assert doc["counts"]["scheduled"] == 99
    assert any("skipped 36 bytes of a torn last record (expected when a run is killed)" in n
               for n in doc["notes"])


def test_a_complete_run_is_not_incomplete(tmp_path: Path) -> None:
    doc = _doc(write_run(tmp_path / "r", _fast()))
    assert doc["verdict"] == "PASS"
    assert doc["incomplete"] == []
    assert doc["exit_code"] == ExitCode.OK


def test_exit_codes_are_the_enum(tmp_path: Path) -> None:
    for name, events, expected in (("ok", _fast(), ExitCode.OK),
                                   ("lost", [*_fast(), Ev("gone", 5)], ExitCode.CHECK_FAILED)):
        stats = load_stats([write_run(tmp_path / name, events)], target_ns=2000 * MS, window_ns=1000 * MS)
        code = evaluate(parse_slos(None), stats).exit_code
        assert isinstance(code, ExitCode)
        assert code is expected


# -- damaged logs ---------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [
    b"this is not a record\n" * 40,  # text appended (a stray redirect), not a multiple of 56 bytes
    np.random.default_rng(5).integers(0, 256, 56 * 30, dtype=np.uint8).tobytes(),  # random whole "records"
])
def test_garbage_appended_to_an_event_log_leaves_the_good_records_readable(tmp_path: Path,
                                                                          garbage: bytes) -> None:
    """Today: `records name event types missing` and no report at all. Decided: the good
    records are read, the rest is counted and located, and the run is INCOMPLETE (a damaged
    log cannot stand behind its numbers)."""
    run = write_run(tmp_path / "r", _fast())
    with (run / "events-0.bin").open("ab") as handle:
        handle.write(garbage)
    doc = _doc(run)
    assert doc["counts"]["scheduled"] == 100
    assert doc["counts"]["ok"] == 100
    assert doc["latency_ms"]["end_to_end"]["p50"] == pytest.approx(150, rel=2e-3)
    assert doc["verdict"] == "INCOMPLETE"
    whole = len(garbage) // EVENT_DTYPE.itemsize
    damaged = [r for r in doc["incomplete"] if "damaged records" in r]
    assert damaged == [f"{run / 'events-0.bin'}: skipped {whole} damaged records ({whole * 56} bytes) "
                       f"between record 100 and {100 + whole - 1} (from byte 5600); "
                       "the good records were read"]
    torn = len(garbage) % EVENT_DTYPE.itemsize
    assert any(f"{torn} bytes after the last whole record" in r for r in doc["incomplete"]) == bool(torn)


def test_garbage_in_a_results_log_is_skipped_and_the_good_results_still_match(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", _fast())
    garbage = b'{"id": "not a record"}\n' * 8
    with (run / "results-0.bin").open("ab") as handle:
        handle.write(garbage)
    doc = _doc(run)
    assert doc["counts"]["lost"] == 0
    assert doc["counts"]["results"] == 100
    assert doc["counts"]["unmatched_results"] == 0
    assert doc["verdict"] == "INCOMPLETE"
    assert any(f"results-0.bin: skipped {len(garbage) // RESULT_DTYPE.itemsize} damaged records" in r
               for r in doc["incomplete"])


def test_damaged_records_in_the_middle_are_located(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", _fast())
    shard = run / "events-0.bin"
    data = bytearray(shard.read_bytes())
    data[56 * 40 : 56 * 43] = b"\xff" * (56 * 3)  # three records overwritten
    shard.write_bytes(bytes(data))
    doc = _doc(run)
    assert doc["counts"]["scheduled"] == 97
    assert any("skipped 3 damaged records (168 bytes) between record 40 and 42 (from byte 2240)" in r
               for r in doc["incomplete"])


# -- default objectives ---------------------------------------------------------------------


def test_failed_events_miss_the_default_objectives(tmp_path: Path) -> None:
    """29.8 % HTTP 500 and no --slo was PASS: a failed event did not get its decision in 2 s."""
    events = [Ev(str(i), i * 10, result_ms=[i * 10 + 150]) if i % 10 >= 3
              else Ev(str(i), i * 10, status=Status.FAILED, reason=Reason.HTTP_STATUS) for i in range(1000)]
    doc = _doc(write_run(tmp_path / "r", events))
    assert doc["counts"]["failed"] == 300
    assert doc["verdict"] == "FAIL"
    within = doc["slos"][0]
    assert within["slo"] == "within(2s)>=100%"
    assert within["passed"] is False
    assert within["actual"] == pytest.approx(0.7)
    assert doc["slos"][1]["slo"] == "p99<=2s"  # p99 is still judged and shown
    assert doc["slos"][1]["passed"] is True


def test_within_counts_every_scheduled_event_in_its_denominator(tmp_path: Path) -> None:
    events = [Ev(str(i), i * 10, result_ms=[i * 10 + 100]) for i in range(6)]
    events += [Ev("f", 1, status=Status.FAILED, reason=Reason.TIMEOUT),
               Ev("d", 2, status=Status.DROPPED, reason=Reason.OTHER),
               Ev("a", 3, status=Status.DROPPED, reason=Reason.CANCELLED),  # aborted
               Ev("lost", 4)]
    doc = _doc(write_run(tmp_path / "r", events), slos=["within(2s)>=60%", "within(500ms)>=60%"])
    assert doc["counts"]["scheduled"] == 10
    assert [s["actual"] for s in doc["slos"]] == [pytest.approx(0.6), pytest.approx(0.6)]
    assert doc["verdict"] == "PASS"


def test_the_default_objectives_are_spelled_out(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", _fast())
    doc = _doc(run)
    assert doc["objectives"]["default"] is True
    description = doc["objectives"]["description"]
    assert description.startswith("every scheduled event gets its result within 2s (within(2s)>=100%: "
                                  "failed, dropped, aborted and lost events count as misses)")
    for name, text in _every_format(doc).items():
        if name != "json":
            assert "efault objectives: every scheduled event gets its result within 2s" in text, name
    given = _doc(run, slos=["p99<=1s"])
    assert given["objectives"] == {"default": False, "description": None}
    assert "default objectives" not in _text(given)


def test_the_default_objectives_follow_the_target(tmp_path: Path) -> None:
    doc = _doc(write_run(tmp_path / "r", _fast()), target_ms=100)
    assert [s["slo"] for s in doc["slos"]] == ["within(100ms)>=100%", "p99<=100ms", "lost<=0"]
    assert doc["verdict"] == "FAIL"


# -- acknowledgements only ------------------------------------------------------------------


def test_a_run_without_results_is_judged_on_acknowledgements_and_says_so(tmp_path: Path) -> None:
    """It may PASS (what was measured met the objectives), but the verdict itself says on what."""
    doc = _doc(write_run(tmp_path / "r", [Ev(str(i), i, ack_ms=i + 40) for i in range(50)], collector=False))
    assert doc["verdict"] == "PASS"
    assert doc["verdict_basis"] == "acknowledgements"
    assert doc["verdict_line"] == "PASS (judged on acknowledgements only: no results were collected)"
    assert "its acknowledgement within 2s" in doc["objectives"]["description"]
    texts = _every_format(doc)
    assert texts["text"].splitlines()[0].startswith(
        "PASS (judged on acknowledgements only: no results were collected)")
    assert texts["markdown"].startswith(
        "## ✅ Latency report: PASS (judged on acknowledgements only: no results were collected)")
    assert "judged on acknowledgements only" in texts["html"].split("</h1>")[0]
    with_results = _doc(write_run(tmp_path / "c", _fast()))
    assert with_results["verdict_line"] == "PASS"
    assert with_results["verdict_basis"] == "results"


# -- censored latencies ---------------------------------------------------------------------


def _lost_tail(tmp_path: Path) -> Path:
    """90 results at 4.96 s (just inside the 5 s timeout), 10 events lost: no result by 5 s."""
    events = [Ev(str(i), i * 10, result_ms=[i * 10 + 4960]) for i in range(90)]
    events += [Ev(f"gone{i}", i * 10) for i in range(10)]
    return write_run(tmp_path / "r", events, timeout_ms=5000)


def test_percentiles_among_lost_events_are_a_lower_bound_not_the_timeout(tmp_path: Path) -> None:
    doc = _doc(_lost_tail(tmp_path), slos=["p99<=10s", "p90<=5s"])
    e2e = doc["latency_ms"]["end_to_end"]
    assert e2e["censored"] == ["p95", "p99", "p99.9", "max"]
    assert e2e["lower_bound_ms"] == 5000
    assert e2e["censored_count"] == 10
    assert e2e["p90"] == pytest.approx(4960, rel=2e-3)  # rank 90 of 100: the slowest measured
    p99, p90 = doc["slos"]
    assert p99 == {"slo": "p99<=10s", "passed": False, "actual": 5000.0, "unit": "ms", "censored": True,
                   "lower_bound_ms": 5000.0}
    assert p90["passed"] is True
    assert "censored" not in p90
    assert doc["result_timeout_ms"] == 5000
    text = _text(doc)
    assert "> 5.00 s" in text
    assert "4.96 s" in text  # p90 is measured
    assert "> 5.00 s" in render_markdown(doc)
    assert "&gt; 5.00 s" in render_html(doc)
    assert json.loads(render_json(doc))["latency_ms"]["end_to_end"]["censored"] == e2e["censored"]


def test_censored_percentiles_per_type_and_window(tmp_path: Path) -> None:
    stats = load_stats([_lost_tail(tmp_path)], target_ns=2000 * MS, window_ns=10_000 * MS)
    (group,) = stats.by_type
    assert group.end_to_end.censored == ("p95", "p99", "p99.9", "max")
    assert stats.windows[0].censored == ("p95", "p99", "p99.9", "max")
    assert stats.windows[0].end_to_end_ms["max"] == 5000


def test_without_results_nothing_is_censored(tmp_path: Path) -> None:
    stats = load_stats([write_run(tmp_path / "r", [Ev(str(i), i) for i in range(10)], collector=False)],
                       target_ns=2000 * MS, window_ns=1000 * MS)
    assert stats.distributions[E2E].censored == ()
    assert stats.result_timeout_ns is None


# -- clocks ---------------------------------------------------------------------------------


def test_negative_latencies_on_one_machine_do_not_blame_clocks(tmp_path: Path) -> None:
    """Sent 0.5 ms early and answered at once: the result precedes the intended time, on one clock."""
    events = [Ev(str(i), i * 10, sent_ms=i * 10 - 0.5, ack_ms=i * 10 - 0.4, result_ms=[i * 10 - 0.3])
              for i in range(1, 11)]
    doc = _doc(write_run(tmp_path / "r", events))
    notes = " ".join(doc["notes"])
    assert "different machines" not in notes
    assert "disagree" not in notes
    assert "10 results arrived before their event's intended time, on one host's clock" in notes
    assert "10 events were sent before their intended time (up to 0.500 ms early)" in notes


def test_negative_latencies_across_hosts_blame_the_clocks(tmp_path: Path) -> None:
    sender = write_run(tmp_path / "send", [Ev("k1", 100), Ev("k2", 110)], host="sender-1")
    collected = write_run(tmp_path / "collect", [], extra_results=[("k1", 90), ("k2", 300)],
                          host="collector-1")
    doc = _doc(sender, collected)
    assert any("the run dirs come from hosts collector-1, sender-1, whose clocks disagree" in n
               for n in doc["notes"])


def test_runs_from_before_hosts_were_recorded_may_blame_clocks(tmp_path: Path) -> None:
    sender = write_run(tmp_path / "send", [Ev("k1", 100)], host=None)
    collected = write_run(tmp_path / "collect", [], extra_results=[("k1", 90)], host=None)
    assert any("possibly different hosts" in n for n in _doc(sender, collected)["notes"])


def test_a_verdict_without_data_does_not_hide_a_failure(tmp_path: Path) -> None:
    """Every event failed: p99 has nothing to judge, but within() plainly failed: FAIL, not NOT MEASURABLE."""
    events = [Ev(str(i), i, status=Status.FAILED, reason=Reason.HTTP_STATUS) for i in range(20)]
    doc = _doc(write_run(tmp_path / "r", events))
    assert doc["verdict"] == "FAIL"
    assert [s["passed"] for s in doc["slos"]] == [False, None, True]
    assert Verdict.FAIL.value == doc["verdict"]


def test_results_the_collector_recorded_but_the_log_lacks_make_it_incomplete(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", _fast())
    (run / "collector-0.json").write_text(json.dumps({"requests": 100, "results": 100}))
    assert _doc(run)["verdict"] == "PASS"
    (run / "collector-0.json").write_text(json.dumps({"requests": 150, "results": 150}))
    doc = _doc(run)
    assert doc["verdict"] == "INCOMPLETE"
    assert doc["incomplete"] == [f"{run}: the collector recorded 150 results (collector-*.json) but the "
                                 "results log holds 100: accepted results are missing"]


def test_garbage_reads_the_same_whole_or_streamed(tmp_path: Path) -> None:
    """`read_run` (a run read whole) used to raise on a type index its .types lacks."""
    from evtool.results.runlog import read_run
    from evtool.results.stats import compute_stats

    run = write_run(tmp_path / "r", _fast())
    with (run / "events-0.bin").open("ab") as handle:
        handle.write(b"\x07" * 56 * 3)
    whole = compute_stats([read_run(run)], [run])
    streamed = load_stats([run], target_ns=2000 * MS, window_ns=5000 * MS)
    assert whole.counts == streamed.counts
    assert whole.counts.scheduled == 100
    assert whole.runs[0].skipped_records == 3
    assert any("skipped 3 damaged records" in r for r in whole.incomplete)


def test_events_the_sender_never_reached_make_the_run_not_measurable(tmp_path: Path) -> None:
    events = [*_fast(), Ev("late", 995, status=Status.DROPPED, reason=Reason.BEHIND_SCHEDULE)]
    doc = _doc(write_run(tmp_path / "r", events))
    assert doc["verdict"] == "NOT_MEASURABLE"
    assert doc["reasons"] == {"dropped:BEHIND_SCHEDULE": 1}
    assert any("1 events were dropped because the sender had not reached them" in r
               for r in doc["not_measurable"])


def test_lost_events_of_a_killed_run_are_only_known_to_exceed_what_they_waited(tmp_path: Path) -> None:
    """Killed 10 ms after the last event: its missing result says nothing about a 10 s timeout."""
    events = [Ev(str(i), i * 10, result_ms=[i * 10 + 150]) for i in range(95)]
    events += [Ev(f"cut{i}", 950 + i * 10) for i in range(5)]  # the last acked at 990 + 10 ms
    stats = load_stats([write_run(tmp_path / "killed", events, ended=False)], target_ns=2000 * MS,
                       window_ns=1000 * MS)
    assert stats.result_timeout_ns == 10_000 * MS
    assert stats.censored_above_ns == 10 * MS
    e2e = stats.distributions[E2E]
    assert e2e.lower_bound_ms == 10
    assert "max" in e2e.censored
    assert any("5 lost events' result timeout had not elapsed when the run ended" in n for n in stats.notes)
