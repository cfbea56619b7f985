"""Sparklines and HTML plots that do not mislead (issue 11 item 10): a window with no latency is a
marker, not the lowest bar; percentiles sit on an axis fitted to the run; marker labels neither
clip nor overlap; the time axis and rates follow the run's real span."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.console import Console
from tests.results.runfixtures import Ev, write_run

from evtool.cli.views import render_report_text
from evtool.results import render_html as html
from evtool.results.render_markdown import render_markdown
from evtool.results.report import (
    ABOVE_TIMEOUT,
    NO_RESULT,
    SPARK,
    build_document,
    load_stats,
    percentile_sparkline,
    sparkline,
)
from evtool.results.runlog import Status

S = 1000.0  # ms


def _doc(run_dir: Path, window_s: float = 1.0) -> dict[str, Any]:
    return build_document(load_stats([run_dir], target_ns=2_000_000_000, window_ns=int(window_s * 1e9)))


def _recovering_run(tmp_path: Path) -> Path:
    """Three 1 s windows: healthy (200 ms), every event failed, healthy again (400 ms); then one
    where every event was acknowledged and none got its result (lost)."""
    events = [Ev(f"a{i}", i * 100, result_ms=[i * 100 + 200]) for i in range(10)]
    events += [Ev(f"b{i}", S + i * 100, status=Status.FAILED, http_status=501) for i in range(10)]
    events += [Ev(f"c{i}", 2 * S + i * 100, result_ms=[2 * S + i * 100 + 400]) for i in range(10)]
    events += [Ev(f"d{i}", 3 * S + i * 100) for i in range(10)]
    return write_run(tmp_path / "run", events, timeout_ms=3000)


def test_sparkline_never_draws_a_missing_value_as_the_lowest_bar() -> None:
    assert sparkline([10.0, None, 20.0]) == f"{SPARK[4]} {SPARK[-1]}"
    assert sparkline([None, None]) == "  "


def test_a_window_where_everything_failed_or_was_lost_is_a_marker_named_in_the_legend(tmp_path: Path) -> None:
    doc = _doc(_recovering_run(tmp_path))
    line, legend = percentile_sparkline(doc)
    assert len(line) == 4
    assert line[1] == NO_RESULT  # every event failed: no latency at all
    assert line[3] == ABOVE_TIMEOUT  # every event lost: above the result timeout
    assert line[0] in SPARK
    assert line[2] == SPARK[-1]
    assert line[0] != SPARK[-1]
    assert f"{NO_RESULT} no latency" in legend
    assert f"{ABOVE_TIMEOUT} above the result timeout" in legend
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    render_report_text(doc, console)
    text_line = next(ln for ln in console.export_text().splitlines() if ln.startswith("p99 over time"))
    assert line in text_line
    assert legend in text_line
    markdown = render_markdown(doc)
    assert f"`{line}`" in markdown
    assert legend in markdown


def test_html_marks_windows_without_latency_and_censored_ones(tmp_path: Path) -> None:
    svg = html.percentiles_svg(_doc(_recovering_run(tmp_path)))
    assert svg.count('class="no-result"') == 1  # the failed window is shaded
    assert 'class="censored"' in svg  # the lost window's percentiles are triangles at their bound
    assert "× no latency measured" in svg
    assert "every event failed, was dropped or aborted" in svg  # the band's tooltip says why
    assert "above the result timeout" in svg


def _polyline_ys(svg: str, color: str) -> list[float]:
    found = re.search(rf'<polyline points="([^"]+)" fill="none" stroke="{color}"', svg)
    assert found, color
    return [float(p.split(",")[1]) for p in found.group(1).split()]


def test_a_healthy_60ms_run_is_not_a_flat_line_under_the_2s_target(tmp_path: Path) -> None:
    events = [Ev(f"k{i}", i * 50, result_ms=[i * 50 + 50 + (i % 10) * 3]) for i in range(200)]
    doc = _doc(write_run(tmp_path / "run", events))
    svg = html.percentiles_svg(doc)
    p50, p99 = _polyline_ys(svg, html.COLORS["p50"]), _polyline_ys(svg, html.COLORS["p99"])
    plot_h = html.HEIGHT - html.TOP - html.BOTTOM
    # p50 ~62 ms and p99 ~77 ms: apart by a tenth of the plot (on a linear 0-2.2 s axis: 1.5 px)
    assert min(a - b for a, b in zip(p50, p99, strict=True)) > plot_h / 10
    assert "target 2.00 s (above)" in svg


def test_the_target_line_is_drawn_when_the_run_comes_near_it(tmp_path: Path) -> None:
    events = [Ev(f"k{i}", i * 50, result_ms=[i * 50 + 900 + i * 5]) for i in range(100)]
    svg = html.percentiles_svg(_doc(write_run(tmp_path / "run", events)))
    assert f'stroke="{html.COLORS["target"]}" stroke-dasharray="6 4"' in svg
    assert "target 2.00 s (above)" not in svg


def _text_boxes(svg: str) -> list[tuple[float, float, float, str]]:
    """(left, right, baseline y, text) of the marker labels."""
    boxes = []
    for x, y, text in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="start" class="marker"[^>]*>'
                                 r"([^<]+)</text>", svg):
        boxes.append((float(x), float(x) + html._text_w(text), float(y), text))
    return boxes


def test_marker_labels_neither_clip_nor_overlap(tmp_path: Path) -> None:
    """p50, p99 and the target close together at the right edge: all three labels inside the plot,
    none overlapping another (before: drawn at x + 3 on one line, the last running off the edge)."""
    events = [Ev(f"k{i}", i * 10, result_ms=[i * 10 + 1900 + (i % 100)]) for i in range(300)]
    doc = _doc(write_run(tmp_path / "run", events))
    svg = html.distribution_svg(doc)
    boxes = _text_boxes(svg)
    assert {b[3].split()[0] for b in boxes} == {"target", "p50", "p99"}
    for left, right, _, text in boxes:
        assert left >= html.LEFT, text
        assert right <= html.WIDTH - html.RIGHT, text
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] != b[2] or a[1] <= b[0] or b[1] <= a[0], (a, b)
    bar_tops = [float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)"', svg)]
    assert min(bar_tops) > max(b[2] for b in boxes)  # the bars stop below the labels


def test_a_1s_run_is_drawn_over_0_to_1s_at_its_real_rate(tmp_path: Path) -> None:
    """4 events at 4/s: the axis ends at 1 s and the bar is 4 events/s, not 0.8/s over 0-5 s."""
    events = [Ev(f"k{i}", 250 * i, result_ms=[250 * i + 30]) for i in range(4)]
    doc = _doc(write_run(tmp_path / "run", events), window_s=5)
    assert doc["span_s"] == 1.0
    assert doc["windows"][-1]["to_s"] == 1.0
    svg = html.throughput_svg(doc)
    labels = re.findall(r'text-anchor="middle">([\d.]+s)</text>', svg)
    assert labels[0] == "0s", labels
    assert labels[-1] == "1s", labels
    assert "ok: 4 (4/s over 0–1 s)" in svg
    assert "5s" not in labels
