"""The delivery audit as plain data: what `evtool audit` found, its verdict, and `audit.json`.

Why here and not in the audit package: the latency report and `--slo delivery=...` read an
audit a run directory already holds, and the results layer must not import the code that
reads a broker. `evtool.audit` computes a `DeliveryAudit`; this module judges and stores it.

The taxonomy follows the broker test suites' (Kafka's produce-consume-validate and
transactions tests, Jepsen's Kafka analysis): on the events topic, *missing* (acknowledged
but not there: data loss), *unacked present* (there, but never acknowledged: an unknown
outcome, counted apart, neither loss nor duplicate), *duplicates* (one event id more than
once), *order violations* (a key's events out of their sequence); on the results, *lost*
(no result), *duplicated* (more than one result), *out of order*.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from evtool.errors import InputError, UsageError

AUDIT_FILE = "audit.json"
AUDIT_FORMAT = 1
EXAMPLES = 5  # event ids kept per finding


class Delivery(StrEnum):
    EXACTLY_ONCE = "exactly-once"  # no loss and no duplicate, on the topic and in the results
    AT_LEAST_ONCE = "at-least-once"  # no loss (duplicates allowed)
    AT_MOST_ONCE = "at-most-once"  # no duplicate (loss allowed)

    @classmethod
    def parse(cls, text: str, *, where: str = "--expect-delivery") -> Delivery:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise UsageError(f"{where} {text!r}: not a delivery guarantee",
                             hint="use exactly-once, at-least-once or at-most-once") from None


@dataclass(slots=True)
class Finding:
    """How many events one kind of finding has, and a few of their ids."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, event_id: str, n: int = 1) -> None:
        self.count += n
        if len(self.examples) < EXAMPLES:
            self.examples.append(event_id)


@dataclass(slots=True)
class PartitionRange:
    """One partition as read: the run's acked offsets `first..last`, what the broker still held
    (`low` / `high` watermarks at the start of the read) and where reading stopped (`end`, exclusive)."""

    partition: int
    first: int
    last: int
    low: int
    high: int
    end: int
    read: int = 0


@dataclass(slots=True)
class TopicAudit:
    """The events topic read back between the offsets the run recorded at acknowledgement."""

    topic: str
    bootstrap: str
    acked: int  # events the broker acknowledged (kafka-offsets-<shard>.bin)
    acked_aborted: int  # of those, aborted locally (acknowledged after the grace period)
    records_read: int
    read_s: float
    partitions: list[PartitionRange] = field(default_factory=list)
    present: int = 0  # distinct events of this run found
    missing: Finding = field(default_factory=Finding)  # acknowledged, not on the topic: data loss
    unacked_present: Finding = field(default_factory=Finding)  # on the topic, never acknowledged
    duplicates: Finding = field(default_factory=Finding)  # events there more than once
    extra_copies: int = 0  # copies beyond the first, over all duplicated events
    order_violations: Finding = field(default_factory=Finding)  # a key's sequence went back
    foreign: int = 0  # records in the range that are no event of this run
    unkeyed: int = 0  # events without partitionkey/sequence (order not judged for them)
    complete: bool = True  # every partition read to its end
    problems: list[str] = field(default_factory=list)

    @property
    def records_per_s(self) -> float | None:
        return self.records_read / self.read_s if self.read_s > 0 else None


@dataclass(slots=True)
class ResultsAudit:
    """The results the run collected, matched to its acknowledged events."""

    expected: int  # acknowledged events (each should have exactly one result)
    results: int  # result records
    with_result: int = 0
    lost: Finding = field(default_factory=Finding)  # acknowledged, no result
    duplicated: Finding = field(default_factory=Finding)  # more than one result
    extra_results: int = 0
    unacked_with_result: int = 0  # not acknowledged, yet processed (unknown outcome)
    unmatched: int = 0  # results that match no event of the run
    order_violations: Finding = field(default_factory=Finding)
    order_judged: bool = False  # False: no per-key data (the topic was not read)


@dataclass(slots=True)
class DeliveryAudit:
    run_dir: str
    run_id: str
    expect: str | None  # a Delivery value
    events: int  # scheduled events of the run
    topic: TopicAudit | None = None
    results: ResultsAudit | None = None
    verdict: str = "PASS"  # PASS, FAIL or INCOMPLETE (the same words as the latency verdict)
    reasons: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    audited_at: str = ""
    format: int = AUDIT_FORMAT

    @property
    def lost(self) -> int:
        topic, results = self.topic, self.results
        return (topic.missing.count if topic else 0) + (results.lost.count if results else 0)

    @property
    def duplicated(self) -> int:
        return ((self.topic.duplicates.count if self.topic else 0)
                + (self.results.duplicated.count if self.results else 0))

    def write(self, run_dir: Path) -> Path:
        """`audit.json` in the run directory, atomically (a report never reads half of it)."""
        path = Path(run_dir) / AUDIT_FILE
        tmp = path.with_name(f".{AUDIT_FILE}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryAudit:
        topic = data.get("topic")
        results = data.get("results")
        known = {f.name for f in fields(cls)}
        out = cls(**{k: v for k, v in data.items() if k in known and k not in ("topic", "results")})
        out.topic = _topic(topic) if topic else None
        out.results = _results(results) if results else None
        return out


def _finding(value: Any) -> Finding:
    return Finding(int(value.get("count", 0)), list(value.get("examples", [])))


def _topic(data: dict[str, Any]) -> TopicAudit:
    known = {f.name for f in fields(TopicAudit)}
    kwargs = {k: v for k, v in data.items() if k in known}
    for name in ("missing", "unacked_present", "duplicates", "order_violations"):
        kwargs[name] = _finding(kwargs.get(name, {}))
    kwargs["partitions"] = [PartitionRange(**p) for p in kwargs.get("partitions", [])]
    return TopicAudit(**kwargs)


def _results(data: dict[str, Any]) -> ResultsAudit:
    known = {f.name for f in fields(ResultsAudit)}
    kwargs = {k: v for k, v in data.items() if k in known}
    for name in ("lost", "duplicated", "order_violations"):
        kwargs[name] = _finding(kwargs.get(name, {}))
    return ResultsAudit(**kwargs)


def judge(audit: DeliveryAudit, expect: Delivery) -> tuple[bool | None, list[str]]:
    """Whether `audit` meets `expect` (None: it cannot say), and why not, in words."""
    if audit.incomplete:
        return None, [f"the audit is incomplete: {'; '.join(audit.incomplete)}"]
    if audit.topic is None and audit.results is None:
        return None, ["nothing to audit: the run went to no Kafka topic and collected no results"]
    why: list[str] = []
    if expect in (Delivery.EXACTLY_ONCE, Delivery.AT_LEAST_ONCE):
        if audit.topic and audit.topic.missing.count:
            why.append(f"{audit.topic.missing.count} acknowledged events are missing from the topic "
                       "(data loss)")
        if audit.results and audit.results.lost.count:
            why.append(f"{audit.results.lost.count} acknowledged events have no result (lost)")
    if expect in (Delivery.EXACTLY_ONCE, Delivery.AT_MOST_ONCE):
        if audit.topic and audit.topic.duplicates.count:
            why.append(f"{audit.topic.duplicates.count} events are on the topic more than once "
                       f"({audit.topic.extra_copies} extra copies)")
        if audit.results and audit.results.duplicated.count:
            why.append(f"{audit.results.duplicated.count} events have more than one result "
                       f"({audit.results.extra_results} extra: duplicate processing)")
    return not why, why


def violations(audit: DeliveryAudit, expect: Delivery) -> int:
    """The events that break `expect`: losses, duplicates, or both (the objective's actual value)."""
    count = 0
    if expect in (Delivery.EXACTLY_ONCE, Delivery.AT_LEAST_ONCE):
        count += audit.lost
    if expect in (Delivery.EXACTLY_ONCE, Delivery.AT_MOST_ONCE):
        count += audit.duplicated
    return count


def read_audit(run_dir: Path) -> DeliveryAudit | None:
    """The run's `audit.json`, None when it was never audited (InputError when it is damaged)."""
    path = Path(run_dir) / AUDIT_FILE
    if not path.is_file():
        return None
    try:
        return DeliveryAudit.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, AttributeError, ValueError) as exc:
        raise InputError(f"{path}: damaged delivery audit: {exc}",
                         hint="run `evtool audit` on the run directory again") from None


def read_audits(run_dirs: Sequence[Path | str]) -> list[DeliveryAudit] | None:
    """The audits of every run directory; None unless each has one (a partial audit judges nothing)."""
    audits = [read_audit(Path(d)) for d in run_dirs]
    if not audits or any(a is None for a in audits):
        return None
    return [a for a in audits if a is not None]


def judge_all(audits: Sequence[DeliveryAudit], expect: Delivery) -> tuple[bool | None, int, list[str]]:
    """`judge` over several run directories (shards of one test): (passed, violations, why)."""
    passed: bool | None = True
    why: list[str] = []
    count = 0
    for audit in audits:
        ok, reasons = judge(audit, expect)
        count += violations(audit, expect)
        prefix = f"{audit.run_dir}: " if len(audits) > 1 else ""
        why += [prefix + r for r in reasons]
        if ok is None:
            passed = None
        elif not ok and passed is not None:
            passed = False
    return passed, count, why


# -- the report's section ----------------------------------------------------------------------
# One function per view, each called in one line by its renderer: the document carries the
# audit under "delivery" (None: the run was not audited), and every view shows the same numbers.

def delivery_section(run_dirs: Sequence[Path | str]) -> dict[str, Any] | None:
    """The report document's "delivery" entry: each audited run's audit as JSON types, or None."""
    audits = [a for a in (read_audit(Path(d)) for d in run_dirs) if a is not None]
    if not audits:
        return None
    return {"audits": [asdict(a) for a in audits]}


def delivery_lines(doc: dict[str, Any]) -> list[str]:
    """The audit as plain lines (text and Markdown views): a headline per run, then indented findings."""
    section = doc.get("delivery")
    if not section:
        return []
    lines: list[str] = []
    for data in section["audits"]:
        audit = _as_audit(data)
        lines.append(headline(audit))
        lines += [f"  {line}" for line in audit_lines(audit)]
    return lines


def _as_audit(data: DeliveryAudit | dict[str, Any]) -> DeliveryAudit:
    return data if isinstance(data, DeliveryAudit) else DeliveryAudit.from_dict(data)


def render_audit_json(audit: DeliveryAudit) -> str:
    """`evtool audit --format json`: the audit as audit.json holds it."""
    return json.dumps(asdict(audit), indent=2) + "\n"


def headline(audit: DeliveryAudit) -> str:
    expect = f" against {audit.expect}" if audit.expect else ""
    return f"delivery audit{expect}: {audit.verdict} ({audit.events} events, {audit.run_dir})"


def audit_lines(audit: DeliveryAudit) -> list[str]:
    """What the audit found, one line per side and finding, with example event ids."""
    lines: list[str] = []
    topic = audit.topic
    if topic is not None:
        speed = topic.records_per_s
        lines.append(f"topic {topic.topic}: {topic.acked} acknowledged ({topic.acked_aborted} of them "
                     f"aborted locally), {topic.records_read} records read in {topic.read_s:.2f} s"
                     + (f" ({speed:,.0f} records/s)" if speed else "")
                     + f", {topic.present} events found, {topic.foreign} records of other producers"
                     + (f", {topic.unkeyed} events without partitionkey/sequence (order not judged)"
                        if topic.unkeyed else ""))
        for label, finding in (("missing (acknowledged, not on the topic: data loss)", topic.missing),
                               ("present but never acknowledged (unknown outcome)", topic.unacked_present),
                               ("duplicated on the topic", topic.duplicates),
                               ("out of per-key order on the topic", topic.order_violations)):
            lines.append(_finding_line(label, finding))
        lines += [f"topic: {p}" for p in topic.problems]
    else:
        lines.append("topic: not read (the run did not go to Kafka)")
    results = audit.results
    if results is not None:
        lines.append(f"results: {results.results} for {results.expected} acknowledged events, "
                     f"{results.with_result} with a result, {results.unmatched} matching no event, "
                     f"{results.unacked_with_result} for events the run did not count as acknowledged")
        lines.append(_finding_line("without a result (lost)", results.lost))
        lines.append(_finding_line("with more than one result (duplicate processing)", results.duplicated))
        if results.order_judged:
            lines.append(_finding_line("results out of per-key order", results.order_violations))
        else:
            lines.append("results order: not judged (no per-key data without the events topic)")
    else:
        lines.append("results: none collected")
    lines += audit.reasons
    lines += [f"incomplete: {r}" for r in audit.incomplete]
    return lines


def _finding_line(label: str, finding: Finding) -> str:
    text = f"{label}: {finding.count}"
    if finding.examples:
        text += " (e.g. " + ", ".join(finding.examples) + ")"
    return text


def delivery_markdown(doc: dict[str, Any]) -> list[str]:
    """The Markdown view's lines for the audit ([] when not audited)."""
    lines = delivery_lines(doc)
    if not lines:
        return []
    out = ["", "**Delivery audit**", ""]
    for line in lines:
        out.append(f"- {line.strip()}" if line.startswith("  ") else f"- **{line}**")
    return out


def delivery_html(doc: dict[str, Any]) -> str:
    """The HTML view's section for the audit ("" when not audited)."""
    from html import escape

    section = doc.get("delivery")
    if not section:
        return ""
    parts = ["<h2>Delivery audit</h2>"]
    for data in section["audits"]:
        audit = _as_audit(data)
        items = "".join(f"<li>{escape(line)}</li>" for line in audit_lines(audit))
        parts.append(f"<p><strong>{escape(headline(audit))}</strong></p><ul>{items}</ul>")
    return "".join(parts)
