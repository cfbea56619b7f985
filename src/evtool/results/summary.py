"""The verdict of one run as simulate/replay give it at their end: the latency report's JSON document.

`--summary-export FILE` writes exactly what `evtool latency-report RUN_DIR --format json` (with the
same `--slo`) prints, so a CI job reads one format whichever command made it; `--slo` makes the
verdict the command's exit code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evtool.errors import InputError
from evtool.results.slo import Slo, parse_slos
from evtool.results.stats import DEFAULT_TARGET_NS

REPORT_WINDOW_NS = 5_000_000_000  # latency-report's default --window


def check_objectives(texts: Sequence[str] | None) -> list[Slo] | None:
    """The `--slo` objectives parsed before the run (a bad one fails before anything is sent)."""
    return parse_slos(texts, DEFAULT_TARGET_NS) if texts else None


def run_document(run_dir: Path, slos: Sequence[Slo] | None) -> dict[str, Any]:
    """The report document of `run_dir`, as latency-report builds it with its default target and window."""
    from evtool.results.report import build_document, load_stats

    stats = load_stats([run_dir], target_ns=DEFAULT_TARGET_NS, window_ns=REPORT_WINDOW_NS)
    return build_document(stats, slos)


def export_summary(path: Path, doc: dict[str, Any]) -> None:
    """Write the document to `path` atomically (a temporary file renamed), so a CI step never reads half."""
    from evtool.results.report import render_json

    if path.is_dir():
        raise InputError(f"--summary-export {path}: is a directory — give a file name")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(render_json(doc), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise InputError(f"--summary-export {path}: cannot write it ({exc.strerror or exc}) — "
                         "choose a writable place (the run itself is in its run directory)") from None


def check_export_path(path: Path) -> None:
    """Before the run: the summary's directory exists (a typo found after a long run loses the gate)."""
    if path.is_dir():
        raise InputError(f"--summary-export {path}: is a directory — give a file name")
    if not path.parent.is_dir():
        raise InputError(f"--summary-export {path}: no directory {path.parent} — "
                         "create it or choose another path")
