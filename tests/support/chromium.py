"""Headless Chromium for tests that look at an HTML report as a browser draws it.

`measure_report(html_file)` loads a copy of the report with a small measuring script added (the
report itself has none), lets Chromium lay it out with its real fonts, and returns what the script
measured: every SVG text's box, the page's scroll width, the configuration table's rows.

Without Chromium a test is skipped with the reason; with EVTOOL_REQUIRE_SERVICES=1 (.ci/run, which
installs it through scripts/chromium) it fails instead, as the Kafka tests do.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.kafka_broker import missing_service

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 2000)

_MEASURE = """
<script>
(() => {
  // a text's box as drawn (after its transform: the rotated axis title), in the SVG's own units
  const box = (t) => {
    const svg = t.ownerSVGElement, frame = svg.getBoundingClientRect(), b = t.getBoundingClientRect();
    const k = svg.viewBox.baseVal.width / frame.width;
    return {text: t.textContent, x: (b.left - frame.left) * k, y: (b.top - frame.top) * k, w: b.width * k,
            h: b.height * k, marker: t.classList.contains('marker')};
  };
  const swatch = (e) => e && e.tagName === 'rect' && e.getAttribute('height') === '4';  // a legend entry
  const out = {
    svgs: [...document.querySelectorAll('svg')].map((svg) => ({
      label: svg.getAttribute('aria-label'), width: svg.viewBox.baseVal.width,
      height: svg.viewBox.baseVal.height, texts: [...svg.querySelectorAll('text')].map(box),
      legend: [...svg.querySelectorAll('text')].filter((t) => swatch(t.previousElementSibling)).map(box)})),
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    config: [...document.querySelectorAll('table.config tbody tr')].map((r) => r.innerText),
    headings: [...document.querySelectorAll('h2')].map((h) => h.innerText),
  };
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium() -> str:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    missing_service("chromium is not installed (apt-get install -y chromium; scripts/chromium)")
    raise AssertionError  # unreachable: missing_service raises


def measure_report(report: Path, timeout_s: float = 90.0) -> dict[str, Any]:
    """What Chromium drew for `report` (an HTML file written by `latency-report --format html`)."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="evtool-chromium-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(report.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"),
                        encoding="utf-8")
        done = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp}/profile", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=timeout_s, check=False)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium drew no measurement (exit {done.returncode}): {done.stderr[-2000:]}"
    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured
