"""The report document and its renderers: stable JSON keys, Markdown tables, well-formed HTML/SVG."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from hdrh.histogram import HdrHistogram
from runfixtures import Ev, write_run

from evtool.results.render_html import render_html
from evtool.results.render_markdown import render_markdown, sparkline
from evtool.results.report import build_document, load_stats, render_json
from evtool.results.runlog import Reason, Status
from evtool.results.slo import parse_slos

TOP_KEYS = [
    "format", "verdict", "exit_code", "not_measurable", "target_ms", "end_to_end_source", "window_s",
    "duration_s", "runs", "counts", "within_target_share", "reasons", "latency_ms", "slos", "by_type",
    "windows", "distribution", "hdr_histograms", "baseline", "notes",
    "verdict_line", "verdict_basis", "incomplete", "objectives", "result_timeout_ms",
    "failures", "collector", "stages", "stages_note",
    "format_version", "span_s", "configuration", "delivery",  # format_version 1.1
    "clocks",  # format_version 1.2
]
PERCENTILE_KEYS = ["count", "mean", "p50", "p90", "p95", "p99", "p99.9", "max", "censored", "lower_bound_ms",
                   "censored_count"]


def _doc(tmp_path: Path, baseline: bool = False) -> dict[str, Any]:
    events = [Ev(f"k{i}", i * 50, result_ms=[i * 50 + 100 + (i % 30) * 10], event_type="order" if i % 3
                 else "alert") for i in range(200)]
    events += [Ev("x", 10, status=Status.FAILED, reason=Reason.HTTP_STATUS), Ev("y", 20)]
    run = write_run(tmp_path / "run", events)
    stats = load_stats([run], target_ns=2_000_000_000, window_ns=1_000_000_000)
    base = load_stats([run], target_ns=2_000_000_000, window_ns=1_000_000_000) if baseline else None
    return build_document(stats, parse_slos(None), baseline=base, baseline_dirs=["old"] if baseline else [])


def test_json_has_stable_keys_and_round_trips(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    parsed = json.loads(render_json(doc))
    assert list(parsed) == TOP_KEYS
    assert list(parsed["latency_ms"]) == ["end_to_end", "ack", "service", "scheduling_lag"]
    assert list(parsed["latency_ms"]["end_to_end"]) == PERCENTILE_KEYS
    assert list(parsed["windows"][0]) == ["start_ns", "scheduled", "ok", "failed", "dropped", "aborted",
                                          "lost", "latency_ms", "censored", "from_s", "to_s", "span_s"]
    assert parsed["verdict"] == "FAIL"  # one lost event against the default lost<=0
    assert parsed["counts"]["lost"] == 1
    assert parsed["slos"][2] == {"slo": "lost<=0", "passed": False, "actual": 1, "unit": "count"}
    assert sum(b["count"] for b in parsed["distribution"]) == parsed["latency_ms"]["end_to_end"]["count"]
    decoded = HdrHistogram.decode(parsed["hdr_histograms"]["end_to_end"])  # other tools can merge it
    assert decoded.get_total_count() == parsed["latency_ms"]["end_to_end"]["count"]


def test_markdown_tables_are_well_formed(tmp_path: Path) -> None:
    text = render_markdown(_doc(tmp_path, baseline=True))
    assert text.startswith("## ❌ Latency report: FAIL")
    tables: list[list[str]] = []
    current: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 4
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, table  # every row has as many cells as the header
        assert set(table[1].replace("|", "").replace(" ", "")) <= set("-:")
    assert "| `p99<=2s` |" in text
    assert "Against baseline" in text
    assert "| p50 |" in text


def test_sparkline_scales() -> None:
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert sparkline([]) == ""


class _Checker(HTMLParser):
    VOID: ClassVar[set[str]] = {
        "meta", "br", "img", "input", "link", "hr", "rect", "line", "circle", "polyline",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_html_is_one_well_formed_self_contained_file(tmp_path: Path) -> None:
    page = render_html(_doc(tmp_path, baseline=True))
    checker = _Checker()
    checker.feed(page)
    assert checker.errors == []
    assert checker.stack == []
    assert checker.tags.count("svg") == 4
    assert "<script" not in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing fetched from elsewhere
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        root = ET.fromstring(svg)  # each plot is valid XML
        assert root.tag.endswith("svg")
        assert len(root) > 10
    assert "target 2.00 s" in page
    assert "Against baseline" in page
