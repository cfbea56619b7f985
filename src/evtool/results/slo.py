"""Service-level objectives: parse `--slo` expressions and judge a run against them.

The verdict has four values, not two. When the sender itself fell behind its schedule, the
latencies are the tool's own delay as much as the system's, so the honest answer is "not
measurable". When the run cannot stand behind its own log (it never ended cleanly, a write
failed, its input was cut short, a log file is damaged), the answer is INCOMPLETE, whatever
the numbers say. Both exit 1 like a failure, with a different message and a different fix.
Results stamped by a remote collector whose clock offset is unknown, or known only to more than
1 % of the tightest latency judged, are NOT MEASURABLE too (`results.clock_offset`).

The default objectives are the promise itself: every scheduled event gets its result within
the target, so a failed, dropped, aborted or lost event is a miss (`within(2s)>=100%`); p99 and
loss are judged beside it so the report shows them.

`delivery=exactly-once|at-least-once|at-most-once` judges the delivery audit the run directory
holds (`audit.json`, written by `evtool audit`); without one it has no data (NOT MEASURABLE,
saying to run the audit), because guessing delivery from acknowledgements is what the audit exists
to avoid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from evtool.errors import ExitCode, UsageError
from evtool.results import histogram as hdr
from evtool.results.clock_offset import clock_problems
from evtool.results.delivery import Delivery, DeliveryAudit, judge_all
from evtool.results.runlog import Reason
from evtool.results.stats import DEFAULT_TARGET_NS, E2E, LAG, LatencyStats
from evtool.units import DURATION_PATTERN, NS_PER_UNIT

DEFAULT_SLOS: tuple[str, ...] = ("within(2s)>=100%", "p99<=2s", "lost<=0")
MAX_SCHEDULING_LAG_P99_NS = 100_000_000  # beyond this the sender did not keep its schedule
MAX_IN_FLIGHT_DROP_SHARE = 0.01

FORMS = "p<N><=<duration> (p99<=2s, p99.9<500ms, max<=3s), within(<duration>)>=<N>% " \
        "(within(2s)>=99.5%), lost|failed|dropped|aborted<=<count or N%> (lost<=0, failed<=1%), " \
        "delivery=exactly-once|at-least-once|at-most-once"

_DURATION = DURATION_PATTERN
_UNIT_NS = NS_PER_UNIT
_OPS = r"(<=|<|>=|>)"
_PERCENTILE_RE = re.compile(rf"^(?:p(\d+(?:\.\d+)?)|(max))\s*{_OPS}\s*{_DURATION}$")
_WITHIN_RE = re.compile(rf"^within\(\s*{_DURATION}\s*\)\s*{_OPS}\s*(\d+(?:\.\d+)?)\s*%$")
_DELIVERY_RE = re.compile(r"^delivery\s*(?:=|==)\s*([a-z-]+)$")
_COUNT_RE = re.compile(rf"^(lost|failed|dropped|aborted)\s*{_OPS}\s*(\d+(?:\.\d+)?)\s*(%?)$")


class Verdict(Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_MEASURABLE = "NOT_MEASURABLE"
    INCOMPLETE = "INCOMPLETE"


class Basis(Enum):
    """What end-to-end latency was measured to: results (a collector) or only acknowledgements."""

    RESULTS = "results"
    ACKNOWLEDGEMENTS = "acknowledgements"


@dataclass(frozen=True, slots=True)
class Slo:
    """One objective. `limit` is ns (latency), a fraction (share, or a % count) or a count."""

    text: str
    metric: str  # "percentile", "within", "lost", "failed", "dropped", "aborted"
    op: str
    limit: float
    percentile: float | None = None
    threshold_ns: int | None = None
    relative: bool = False  # a count given as % of scheduled events
    delivery: Delivery | None = None  # metric "delivery": the guarantee the audit must show

    def holds(self, actual: float) -> bool:
        return {
            "<=": actual <= self.limit,
            "<": actual < self.limit,
            ">=": actual >= self.limit,
            ">": actual > self.limit,
        }[self.op]


@dataclass(frozen=True, slots=True)
class SloResult:
    slo: Slo
    actual: float | None  # ns for latencies, fraction for shares, count otherwise; None: no data
    passed: bool | None  # None: nothing to judge
    censored: bool = False  # a latency percentile among lost events: the true value exceeds `actual`


@dataclass(frozen=True, slots=True)
class SloReport:
    verdict: Verdict
    results: list[SloResult]
    not_measurable: list[str]  # why the numbers cannot be trusted
    incomplete: list[str] = field(default_factory=list)  # why the run cannot stand behind its log
    basis: Basis = Basis.RESULTS
    default_objectives: bool = False  # no --slo given: the objectives are the default promise

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.verdict is Verdict.PASS else ExitCode.CHECK_FAILED

    @property
    def headline(self) -> str:
        """The verdict as one line: its word, and what it was judged on when that is not results."""
        word = self.verdict.value.replace("_", " ")
        if self.basis is Basis.ACKNOWLEDGEMENTS:
            return f"{word} (judged on acknowledgements only: no results were collected)"
        return word


def parse_slo(text: str) -> Slo:
    """Parse one `--slo` expression; a bad one is a UsageError naming it and the accepted forms."""
    compact = text.strip().lower()
    if match := _PERCENTILE_RE.match(compact):
        p = 100.0 if match.group(2) else float(match.group(1))
        if not 0 < p <= 100:
            raise UsageError(f"bad --slo {text!r}: percentile must be in (0, 100]", hint=FORMS)
        return Slo(text=text.strip(), metric="percentile", op=match.group(3),
                   limit=float(round(float(match.group(4)) * _UNIT_NS[match.group(5)])), percentile=p)
    if match := _WITHIN_RE.match(compact):
        share = float(match.group(4))
        if share > 100:
            raise UsageError(f"bad --slo {text!r}: a share cannot exceed 100%", hint=FORMS)
        return Slo(text=text.strip(), metric="within", op=match.group(3), limit=share / 100,
                   threshold_ns=round(float(match.group(1)) * _UNIT_NS[match.group(2)]))
    if match := _COUNT_RE.match(compact):
        relative = match.group(4) == "%"
        value = float(match.group(3))
        return Slo(text=text.strip(), metric=match.group(1), op=match.group(2),
                   limit=value / 100 if relative else value, relative=relative)
    if match := _DELIVERY_RE.match(compact):
        guarantee = Delivery.parse(match.group(1), where=f"bad --slo {text.strip()!r}:")
        return Slo(text=text.strip(), metric="delivery", op="<=", limit=0.0, delivery=guarantee)
    raise UsageError(f"bad --slo {text!r}: not an objective evtool understands", hint=f"forms: {FORMS}")


def default_slo_texts(target_ns: int = DEFAULT_TARGET_NS) -> tuple[str, ...]:
    """The default objectives for a latency target: every event in time, p99 in time, nothing lost."""
    if target_ns == DEFAULT_TARGET_NS:
        return DEFAULT_SLOS
    target = format_duration(target_ns)
    return (f"within({target})>=100%", f"p99<={target}", "lost<=0")


def format_duration(ns: int) -> str:
    """A duration as `parse_slo` reads it back exactly: 2s, 500ms, 1500us."""
    for unit in ("h", "m", "s", "ms", "us"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns / 1000:g}us"


def parse_slos(texts: Sequence[str] | None, target_ns: int = DEFAULT_TARGET_NS) -> list[Slo]:
    """The `--slo` objectives, or the defaults for `target_ns` when none are given."""
    return [parse_slo(t) for t in (texts or default_slo_texts(target_ns))]


def describe_defaults(target_ns: int, basis: Basis) -> str:
    """The default objectives in words, for the report."""
    target = format_duration(target_ns)
    got = "its result" if basis is Basis.RESULTS else "its acknowledgement"
    return (f"every scheduled event gets {got} within {target} (within({target})>=100%: failed, dropped, "
            f"aborted and lost events count as misses); p99<={target}; lost<=0")


def _actual(slo: Slo, stats: LatencyStats) -> float | None:
    counts = stats.counts
    if slo.metric == "percentile":
        assert slo.percentile is not None
        e2e = stats.histograms[E2E]
        censored = counts.lost if stats.censored_above_ns is not None else 0
        if e2e.get_total_count() + censored == 0:
            return None
        highest = hdr.Layout.of(e2e).highest_values()
        value_us = hdr.percentiles_us(hdr.counts_view(e2e), (slo.percentile,), highest, censored)[0]
        if value_us == hdr.CENSORED_US:
            return math.inf  # among lost events: later than any objective can allow
        return float(value_us) * 1000  # ns, compared with limit in ns
    if slo.metric == "within":
        assert slo.threshold_ns is not None
        if not counts.scheduled:
            return None
        if slo.threshold_ns == stats.target_ns:
            return counts.within_target / counts.scheduled
        e2e = stats.histograms[E2E]
        layout = hdr.Layout.of(e2e)
        within = hdr.count_at_or_below_us(hdr.counts_view(e2e), slo.threshold_ns // 1000, layout)
        return within / counts.scheduled
    count = float(getattr(counts, slo.metric))
    if slo.relative:
        return count / counts.scheduled if counts.scheduled else None
    return count


def not_measurable_reasons(stats: LatencyStats) -> list[str]:
    reasons = []
    if stats.counts.scheduled == 0:
        reasons.append("no events in the run log")
    lag_p99 = stats.distributions[LAG].percentiles_ms["p99"]
    if lag_p99 is not None and lag_p99 * 1e6 > MAX_SCHEDULING_LAG_P99_NS:
        reasons.append(
            f"the sender fell behind its schedule: p99 scheduling lag {lag_p99:.0f} ms > "
            f"{MAX_SCHEDULING_LAG_P99_NS / 1e6:.0f} ms (lower the rate or add workers)"
        )
    behind = stats.reasons.get(f"dropped:{Reason.BEHIND_SCHEDULE.name}", 0)
    if behind:
        reasons.append(
            f"{behind} events were dropped because the sender had not reached them by the run's planned "
            "end: it fell behind its schedule (lower the rate or add workers)"
        )
    in_flight = stats.reasons.get(f"dropped:{Reason.MAX_IN_FLIGHT.name}", 0)
    if stats.counts.scheduled and in_flight / stats.counts.scheduled > MAX_IN_FLIGHT_DROP_SHARE:
        reasons.append(
            f"{in_flight} events ({in_flight / stats.counts.scheduled:.1%}) were dropped at the in-flight "
            f"cap (> {MAX_IN_FLIGHT_DROP_SHARE:.0%}); raise --max-in-flight or lower the rate"
        )
    return reasons


def tightest_latency_ns(slos: Sequence[Slo], target_ns: int) -> int:
    """The smallest latency the verdict judges: the target, or a tighter objective's bound."""
    limits = [target_ns]
    limits += [int(s.limit) for s in slos if s.metric == "percentile" and s.limit > 0]
    limits += [s.threshold_ns for s in slos if s.metric == "within" and s.threshold_ns]
    return min(limits)


def clock_reasons(stats: LatencyStats, slos: Sequence[Slo]) -> list[str]:
    """Runs whose results were stamped on a remote collector's clock with an offset unknown, or known
    only to more than 1 % of the tightest latency judged (the rule and why: `results.clock_offset`)."""
    return clock_problems([(r.path, r.collector_clock) for r in stats.runs],
                          tightest_latency_ns(slos, stats.target_ns),
                          results=stats.end_to_end_source == "result")


def evaluate(slos: Sequence[Slo], stats: LatencyStats, *, default_objectives: bool = False,
             audits: Sequence[DeliveryAudit] | None = None) -> SloReport:
    """Judge `stats`: INCOMPLETE before NOT MEASURABLE before FAIL before PASS.

    An objective without data (p99 of a run whose every event failed) does not hide a missed
    one: when another objective failed, the verdict is FAIL. `audits`: the delivery audit of
    every run directory (None: not every one was audited), for `delivery=...` objectives.
    """
    results = []
    delivery_reasons: list[str] = []
    for slo in slos:
        if slo.delivery is not None:
            result, why = _delivery(slo, audits)
            results.append(result)
            delivery_reasons += why
            continue
        actual = _actual(slo, stats)
        passed = None if actual is None else slo.holds(actual)
        censored = actual is not None and math.isinf(actual)
        if censored:
            assert stats.censored_above_ns is not None
            actual = float(stats.censored_above_ns)  # the lower bound
        results.append(SloResult(slo=slo, actual=actual, passed=passed, censored=censored))
    reasons = not_measurable_reasons(stats) + clock_reasons(stats, slos) + delivery_reasons
    if stats.incomplete:
        verdict = Verdict.INCOMPLETE
    elif reasons:
        verdict = Verdict.NOT_MEASURABLE
    elif any(r.passed is False for r in results):
        verdict = Verdict.FAIL
    elif any(r.passed is None for r in results):
        verdict = Verdict.NOT_MEASURABLE
    else:
        verdict = Verdict.PASS
    if verdict is not Verdict.FAIL and any(r.passed is None and r.slo.delivery is None for r in results):
        reasons.append("no measured latencies to judge " + ", ".join(
            r.slo.text for r in results if r.passed is None and r.slo.delivery is None))
    basis = Basis.RESULTS if stats.end_to_end_source == "result" else Basis.ACKNOWLEDGEMENTS
    return SloReport(verdict=verdict, results=results, not_measurable=reasons,
                     incomplete=list(stats.incomplete), basis=basis, default_objectives=default_objectives)


def _delivery(slo: Slo, audits: Sequence[DeliveryAudit] | None) -> tuple[SloResult, list[str]]:
    """A `delivery=...` objective against the runs' audits: actual = events breaking the guarantee."""
    assert slo.delivery is not None
    if audits is None:
        return (SloResult(slo=slo, actual=None, passed=None),
                [f"{slo.text}: the run has no delivery audit (run `evtool audit RUN_DIR` first)"])
    passed, count, why = judge_all(audits, slo.delivery)
    if passed is None:
        return SloResult(slo=slo, actual=None, passed=None), [f"{slo.text}: {w}" for w in why]
    return SloResult(slo=slo, actual=float(count), passed=passed), []
