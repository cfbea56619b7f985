"""The HTML report as headless Chromium draws it, with its real fonts (issue 11 item 10): for a
healthy, an overloaded and an all-failed run, no label of a plot is clipped by its edges, no two
marker or legend labels overlap, the page never scrolls sideways at 1280 px, and the run's
configuration and failure reasons are on the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.results.runfixtures import Ev, write_run
from tests.support.chromium import measure_report

from evtool.results.render_html import render_html
from evtool.results.report import build_document, load_stats
from evtool.results.runlog import Reason, RunMeta, Status


def _healthy() -> list[Ev]:
    return [Ev(f"h{i}", i * 20, result_ms=[i * 20 + 55 + (i % 13) * 2]) for i in range(500)]


def _overloaded() -> list[Ev]:
    """Latency climbing past the 2 s target, then results no longer arriving (lost); p50, p99 and
    the target all near the right edge of the distribution."""
    events = [Ev(f"o{i}", i * 10, result_ms=[i * 10 + 1500 + i * 2]) for i in range(400)]
    return events + [Ev(f"l{i}", 4000 + i * 10) for i in range(300)]


def _all_failed() -> list[Ev]:
    return [Ev(f"f{i}", i * 50, status=Status.FAILED, reason=Reason.HTTP_STATUS, http_status=501)
            for i in range(60)]


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


@pytest.mark.parametrize("kind", ["healthy", "overloaded", "all_failed"])
def test_chromium_draws_every_label_whole_and_apart(tmp_path: Path, kind: str) -> None:
    events = {"healthy": _healthy, "overloaded": _overloaded, "all_failed": _all_failed}[kind]()
    run_dir = write_run(tmp_path / kind, events, timeout_ms=3000)
    meta = RunMeta.read(run_dir)
    meta.options = {"rate": "100/s", "arrival": "constant", "duration": "7s"}
    meta.write(run_dir)
    doc = build_document(load_stats([run_dir], target_ns=2_000_000_000, window_ns=1_000_000_000))
    report = tmp_path / f"{kind}.html"
    report.write_text(render_html(doc), encoding="utf-8")

    drawn = measure_report(report)

    assert drawn["scrollWidth"] <= drawn["innerWidth"], "the page scrolls sideways"
    assert any(row.startswith("rate") and "100/s" in row for row in drawn["config"]), drawn["config"]
    assert "Configuration" in drawn["headings"]
    if kind == "all_failed":
        assert "Failures and drops" in drawn["headings"]
    svgs = {svg["label"]: svg for svg in drawn["svgs"]}
    expected = {"end-to-end percentiles over time", "throughput over time"}
    if kind != "all_failed":
        expected.add("end-to-end latency distribution")
    assert expected <= set(svgs), list(svgs)
    for label, svg in svgs.items():
        for t in svg["texts"]:
            if t["text"] in ("×",):  # a marker glyph centred on its band
                continue
            assert t["x"] >= -0.5, (label, t)
            assert t["x"] + t["w"] <= svg["width"] + 0.5, (label, t)
            assert t["y"] >= -0.5, (label, t)
            assert t["y"] + t["h"] <= svg["height"] + 0.5, (label, t)
        for group in ([t for t in svg["texts"] if t["marker"]], svg["legend"]):
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    assert not _overlap(a, b), (label, a, b)
    if kind == "overloaded":
        markers = [t["text"] for t in svgs["end-to-end latency distribution"]["texts"] if t["marker"]]
        assert len(markers) == 3, markers  # target, p50 and p99, all drawn
