"""The Kubernetes Indexed Job example, run the way Kubernetes would run it: its container's shell
command once per completion index (JOB_COMPLETION_INDEX set), then the merge step it documents.

No cluster here: the pods are local processes (the only stand-in), with the target, the rate and
the duration scaled down and `pip install` left out; everything else is the manifest's own text.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.support.cli import installed_evtool, run_evtool
from tests.support.http_servers import counting_sink, settle

pytestmark = pytest.mark.e2e
MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "segments" / "indexed-job.yaml"


def test_the_indexed_job_example_sends_its_segments_and_merges_into_one_verdict(tmp_path: Path) -> None:
    job = yaml.safe_load(MANIFEST.read_text())
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    completions = spec["completions"]
    assert spec["parallelism"] == completions  # segments must run together
    container = spec["template"]["spec"]["containers"][0]
    script: str = container["args"][0]
    assert f'--segment "$JOB_COMPLETION_INDEX/{completions}"' in script
    mount = container["volumeMounts"][0]["mountPath"]
    evtool = installed_evtool()
    with counting_sink() as sink:
        script = (
            script.replace("pip install --quiet evtool &&", "")
            .replace("evtool simulate", f"{evtool} simulate")
            .replace("http://orders-api.staging.svc.cluster.local:8080/events", sink.url)
            .replace("--rate 40000/s --duration 10m", "--rate 200/s --duration 2s")
            .replace(mount, str(tmp_path))
        )
        start = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=40)).isoformat().replace("+00:00", "Z")
        pods = [
            subprocess.Popen(
                ["sh", "-c", script],
                env={**os.environ, "JOB_COMPLETION_INDEX": str(i), "START_AT": start},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(completions)
        ]
        for pod in pods:
            _, err = pod.communicate(timeout=120)
            assert pod.returncode == 0, err
        settle(sink)
        received = sink.events
    runs = sorted(tmp_path.glob("segment-*"))
    assert len(runs) == completions
    report = run_evtool("latency-report", *map(str, runs), "--format", "json")
    document = json.loads(report.stdout)
    assert document["incomplete"] == []
    assert document["counts"]["scheduled"] == 400 == received
    assert report.code == 0
