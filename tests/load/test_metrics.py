"""`--metrics`: a real run's counters and end-to-end histogram, scraped with httpx while it runs and
parsed with prometheus_client's own parsers (Prometheus text and OpenMetrics)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from tests.support.cli import installed_evtool
from tests.support.http_servers import counting_sink, free_port, status_sink
from tests.support.slow_consumer import slow_consumer

from evtool.errors import UsageError
from evtool.load.dispatcher import DispatchOptions
from evtool.load.live import LiveSpec
from evtool.load.metrics import MetricsServer, parse_address
from evtool.load.plan import ArrivalSpec, GeneratedPlan
from evtool.load.runner import CollectorSpec, RunSpec, RunSummary, run
from evtool.load.targets.base import TargetOptions

from .test_live import make_events

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def total(found: Samples, name: str) -> float:
    return sum(v for (n, _), v in found.items() if n == name)


def _run_scraped(server: MetricsServer, spec: RunSpec) -> tuple[RunSummary, list[Samples]]:
    """Run `spec` in a thread, scraping `server` every 0.3 s meanwhile."""
    scrapes: list[Samples] = []
    done: list[RunSummary] = []
    thread = threading.Thread(target=lambda: done.append(run(spec, on_snapshot=server.update)))
    thread.start()
    with httpx.Client(timeout=5) as client:
        while thread.is_alive():
            answer = client.get(server.url)
            assert answer.status_code == 200
            if answer.text:
                scrapes.append(samples(answer.text))
            time.sleep(0.3)
    thread.join()
    return done[0], scrapes


def test_scraped_counters_grow_during_a_run_and_add_up_at_the_end(tmp_path: Path) -> None:
    collector = f"127.0.0.1:{free_port()}"
    arrival = ArrivalSpec("constant", rate=100, duration_s=3)
    consumer_at = slow_consumer(collector, workers=1, service_s=0.02)
    with consumer_at as consumer, MetricsServer("127.0.0.1:0") as server:
        spec = RunSpec(
            plan=GeneratedPlan(arrival, make_events, structured_ids=False),
            target=TargetOptions(consumer.url, client="aiohttp"),
            dispatch=DispatchOptions(grace_s=2),
            run_dir=tmp_path / "run",
            planned_duration_s=3,
            collector=CollectorSpec(collector, result_timeout_s=2),
            live=LiveSpec(target_ns=1_000_000_000),
        )
        summary, scrapes = _run_scraped(server, spec)
        final = samples(httpx.get(server.url, timeout=5).text)  # the server outlives the run: its last word
    during = [s for s in scrapes if value(s, "evtool_events_scheduled_total") < summary.scheduled]
    assert len(during) >= 3, len(scrapes)
    sent = [value(s, "evtool_events_sent_total") for s in during]
    assert sent == sorted(sent)
    assert sent[-1] > sent[0]
    assert any(value(s, "evtool_backlog_events") > 20 for s in during)  # 100/s asked, 50/s answered
    assert value(during[-1], "evtool_rate_asked_per_second") == 100
    # at the end: every scheduled event is acked, failed, dropped or aborted
    scheduled = value(final, "evtool_events_scheduled_total")
    assert scheduled == summary.scheduled == 300
    outcomes = (value(final, "evtool_events_acked_total") + total(final, "evtool_events_failed_total")
                + total(final, "evtool_events_dropped_total") + total(final, "evtool_events_aborted_total"))
    assert outcomes == scheduled
    assert value(final, "evtool_requests_in_flight") == 0
    # the histogram: +Inf bucket = _count = results, buckets cumulative, the target (1 s) among the bounds
    results = value(final, "evtool_results_total")
    assert 0 < results <= consumer.counts()[1]
    assert value(final, "evtool_end_to_end_latency_seconds_count") == results
    assert value(final, "evtool_end_to_end_latency_seconds_bucket", le="+Inf") == results
    buckets = sorted((float(dict(labels)["le"]), v) for (n, labels), v in final.items()
                     if n == "evtool_end_to_end_latency_seconds_bucket")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert 1.0 in [le for le, _ in buckets]
    assert value(final, "evtool_end_to_end_latency_seconds_sum") > 0
    assert value(final, "evtool_backlog_events") == value(final, "evtool_events_acked_total") - results


def test_failures_by_reason_and_openmetrics_negotiation(tmp_path: Path) -> None:
    arrival = ArrivalSpec("constant", rate=200, count=100)
    with status_sink(lambda n: 503 if n % 5 == 0 else 202) as sink, MetricsServer("127.0.0.1:0") as server:
        spec = RunSpec(plan=GeneratedPlan(arrival, make_events, structured_ids=False),
                       target=TargetOptions(sink.url, client="aiohttp"), run_dir=tmp_path / "run")
        run(spec, on_snapshot=server.update)
        text = httpx.get(server.url, timeout=5).text
        accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
        om = httpx.get(server.url, headers=accept, timeout=5)
    found = samples(text)
    assert value(found, "evtool_events_failed_total", reason="HTTP 503") == sink.answered[503] == 20
    assert value(found, "evtool_results_collected") == 0
    assert ("evtool_results_total", ()) not in found  # no collector: no results claimed
    assert value(found, "evtool_ack_latency_seconds_count") == 80
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(om.text)}
    assert families["evtool_events_scheduled"].type == "counter"
    assert families["evtool_ack_latency_seconds"].type == "histogram"


def test_own_registry_and_bad_addresses() -> None:
    with MetricsServer("127.0.0.1:0") as one, MetricsServer("127.0.0.1:0") as two:
        assert httpx.get(one.url, timeout=5).text == ""  # no snapshot yet, and nothing of the process's
        assert "python_gc" not in httpx.get(two.url, timeout=5).text
        with pytest.raises(UsageError, match="cannot listen"):
            MetricsServer(f"127.0.0.1:{one.port}").start()
    for bad in ("9464", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(UsageError, match="--metrics"):
            parse_address(bad)
    assert parse_address(":9464") == ("127.0.0.1", 9464)


@pytest.mark.e2e
def test_installed_evtool_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    with counting_sink() as sink:
        process = subprocess.Popen(
            [installed_evtool(), "simulate", "--target", sink.url, "--rate", "100/s", "--duration", "4s",
             "--metrics", f"127.0.0.1:{port}", "--run-dir", str(tmp_path / "run"), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[float] = []
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=2) as client:
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    text = client.get(f"http://127.0.0.1:{port}/metrics").text
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if text:
                    seen.append(value(samples(text), "evtool_events_sent_total"))
                time.sleep(0.3)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"metrics: http://127.0.0.1:{port}/metrics" in err
    assert len(seen) >= 3, (seen, err)
    assert seen == sorted(seen)
    assert 0 < seen[-1] <= 400
    assert "done: scheduled 400" in out
