"""`--metrics HOST:PORT`: the run's live numbers as Prometheus / OpenMetrics text, for a scrape.

Why from snapshots: the view and the scrape say the same thing, and nothing is counted per
event twice: each scrape renders the latest `load.live.Snapshot` (a frozen dataclass, swapped
whole, so the server's thread never sees half an update). The registry is the exporter's own,
not prometheus_client's global one, so nothing else in the process leaks into the scrape and two
runs in one process (tests) do not collide. With `--workers N` the parent process serves, from
the workers' merged ticks and every shard's log: one endpoint per run, whatever N.

Names follow Prometheus conventions (`_total` counters, `_seconds`): events scheduled, sent,
acked, failed/dropped/aborted by reason (the report's words), requests in flight, the backlog
waiting for a result, results, lost events, and end-to-end latency as a classic histogram with
buckets around the target (acknowledgement latency when no results are collected).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector, CollectorRegistry

from evtool.errors import UsageError
from evtool.load.live import Snapshot

DEFAULT_HOST = "127.0.0.1"


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` or `:PORT` (loopback) to (host, port); a bad one is a UsageError naming it."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port (printed)
        raise UsageError(f"--metrics {address!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    return (host.strip("[]") or DEFAULT_HOST), int(port)


class RunMetrics(Collector):
    """The latest snapshot as metric families (called by the registry at each scrape)."""

    def __init__(self) -> None:
        self.latest: Snapshot | None = None

    def update(self, snapshot: Snapshot) -> None:
        self.latest = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.latest
        if s is None:
            return
        for name, doc, value in (
            ("evtool_events_scheduled", "Events taken from the schedule.", s.scheduled),
            ("evtool_events_sent", "Events handed to the target.", s.sent),
            ("evtool_events_acked", "Events the target acknowledged.", s.acked),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        by_outcome: dict[str, CounterMetricFamily] = {}
        for outcome, doc in (("failed", "Events sent and not acknowledged, by reason."),
                             ("dropped", "Events never sent, by reason."),
                             ("aborted", "Events cut off by the end of the run, by reason.")):
            by_outcome[outcome] = CounterMetricFamily(f"evtool_events_{outcome}", doc, labels=["reason"])
        for outcome, text, count in s.failures:
            family = by_outcome.get(outcome)
            if family is not None:
                family.add_metric([text], count)
        yield from by_outcome.values()
        yield GaugeMetricFamily("evtool_requests_in_flight", "Requests sent and not yet answered.",
                                value=s.in_flight)
        yield GaugeMetricFamily("evtool_backlog_events",
                                "Events sent and still waiting for their result (or, without results "
                                "collected, for their acknowledgement).", value=s.backlog)
        yield GaugeMetricFamily("evtool_rate_asked_per_second", "The arrival rate asked at this moment.",
                                value=s.target_rate if s.target_rate is not None else float("nan"))
        yield GaugeMetricFamily("evtool_rate_sent_per_second", "Events sent per second, last second.",
                                value=s.achieved_rate)
        yield GaugeMetricFamily("evtool_target_latency_seconds", "The end-to-end latency target.",
                                value=s.target_ms / 1000)
        yield GaugeMetricFamily("evtool_results_collected", "1 when downstream results are collected.",
                                value=1 if s.collecting else 0)
        if s.collecting:
            yield CounterMetricFamily("evtool_results", "Results matched to this run's acknowledged events.",
                                      value=s.results)
            yield CounterMetricFamily("evtool_results_unmatched", "Results matching no acknowledged event.",
                                      value=s.unmatched_results)
            yield CounterMetricFamily("evtool_events_lost",
                                      "Acknowledged events with no result within the result timeout.",
                                      value=s.lost)
        if s.bucket_bounds_s:
            name, doc = (("evtool_end_to_end_latency_seconds",
                          "From an event's intended send time to its result.") if s.collecting else
                         ("evtool_ack_latency_seconds",
                          "From intended send time to acknowledgement (no results collected)."))
            buckets = [(_le(bound), float(count))
                       for bound, count in zip(s.bucket_bounds_s, s.bucket_counts, strict=False)]
            buckets.append(("+Inf", float(s.bucket_counts[-1])))
            yield HistogramMetricFamily(name, doc, buckets=buckets, sum_value=s.latency_sum_s)
        if s.objectives:
            lost = GaugeMetricFamily("evtool_objective_lost", "1 once an objective can no longer be met.",
                                     labels=["objective"])
            for objective in s.objectives:
                lost.add_metric([objective.text], 1 if objective.state == "lost" else 0)
            yield lost


def _le(bound_s: float) -> str:
    return f"{bound_s:g}"


class MetricsServer:
    """An HTTP endpoint serving `RunMetrics` from a thread of this process, until `close`."""

    def __init__(self, address: str) -> None:
        self.host, self.port = parse_address(address)
        self.metrics = RunMetrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.metrics)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            raise UsageError(f"--metrics {self.host}:{self.port}: cannot listen there "
                             f"({exc.strerror or exc})", hint="choose a free port") from None
        self.port = self._server.server_port
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def update(self, snapshot: Snapshot) -> None:
        self.metrics.update(snapshot)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["MetricsServer", "RunMetrics", "parse_address"]
