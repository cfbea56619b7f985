"""`simulate --segment A:B --segment-sequence 0,1/4,1/2,1`: three unequal parts, merged by
`latency-report`, are the one process's schedule (L×W workers) exactly; a missing part is INCOMPLETE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import run_evtool
from tests.support.http_servers import counting_sink, settle

from evtool.results.runlog import SEQ_MASK, read_run

pytestmark = pytest.mark.e2e
SEQUENCE = "0,1/4,1/2,1"
PARTS = ["0:1/4", "1/4:1/2", "1/2:1"]


def scenario(url: str, run_dir: Path, *extra: str) -> list[str]:
    return ["simulate", "--target", url, "--rate", "400/s", "--duration", "1500ms", "--arrival", "poisson",
            "--seed", "11", "--quiet", "--run-dir", str(run_dir), *extra]


def sent(run_dir: Path) -> list[tuple[int, int, int]]:
    """(intended offset, global shard, sequence number) of every event the run logged."""
    log = read_run(run_dir)
    keys = log.events["key"]
    out = []
    offsets = (log.events["intended_ns"] - log.meta.clock_origin_ns).tolist()
    for offset, key in zip(offsets, keys, strict=True):
        low = int.from_bytes(bytes(key)[8:], "big")
        out.append((offset, (low >> 42) & 0xFFFF, low & SEQ_MASK))
    return sorted(out)


def test_unequal_parts_merged_are_the_one_process_schedule(tmp_path: Path) -> None:
    with counting_sink() as sink:
        runs = [tmp_path / f"part-{i}" for i in range(len(PARTS))]
        for part, run_dir in zip(PARTS, runs, strict=True):
            ran = run_evtool(*scenario(sink.url, run_dir, "--segment", part, "--segment-sequence", SEQUENCE),
                             timeout_s=90)
            assert ran.code == 0, ran.stderr
        single = tmp_path / "single"  # the sequence's 4 stripes: one process with 4 workers
        ran = run_evtool(*scenario(sink.url, single, "--processes", "4"), timeout_s=90)
        assert ran.code == 0, ran.stderr
        settle(sink)
        received = sink.events

    metas = [json.loads((d / "meta.json").read_text()) for d in runs]
    assert [m["segment"] for m in metas] == PARTS
    assert {m["segment_sequence"] for m in metas} == {SEQUENCE}
    assert len({m["scenario_hash"] for m in metas}) == 1
    union = sorted(item for d in runs for item in sent(d))
    assert union == sent(single)  # the same intended times, under the same shards and numbers
    assert received == 2 * len(union)
    sizes = [len(sent(d)) for d in runs]
    assert abs(sizes[2] / len(union) - 0.5) < 0.1
    assert abs(sizes[0] / len(union) - 0.25) < 0.1

    merged = run_evtool("latency-report", *map(str, runs), "--format", "json")
    document = json.loads(merged.stdout)
    reference = json.loads(run_evtool("latency-report", str(single), "--format", "json").stdout)
    assert merged.code == 0, merged.stdout
    assert document["incomplete"] == []
    assert document["counts"] == reference["counts"]

    missing = run_evtool("latency-report", str(runs[0]), str(runs[2]), "--format", "json")
    assert missing.code == 1
    assert json.loads(missing.stdout)["verdict"] == "INCOMPLETE"
    assert ("segment(s) 1/4:1/2 missing: the merged run is not the whole schedule (sequence 0,1/4,1/2,1)"
            in json.loads(missing.stdout)["incomplete"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--segment", "3/4:1/4"], "--segment '3/4:1/4': the start must be below the end"),
        (["--segment", "1/4:1/2", "--segment-sequence", "0,1/3,1"],
         "--segment '1/4:1/2': 1/4 is not a point of --segment-sequence 0,1/3,1"),
        (["--segment", "0:1/2", "--segment-sequence", "0,1/2"],
         "--segment-sequence '0,1/2': must end at 1"),
        (["--segment", "1/4:1/2"], "a middle segment needs --segment-sequence"),
    ],
)
def test_bad_segments_are_one_line_exit_2_before_anything_is_sent(
    tmp_path: Path, options: list[str], message: str
) -> None:
    with counting_sink() as sink:
        ran = run_evtool(*scenario(sink.url, tmp_path / "r", *options), timeout_s=60)
        assert sink.events == 0
    assert ran.code == 2
    errors = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, ran.stderr
    assert message in errors[0]
    assert "Traceback" not in ran.stderr


def test_replay_takes_the_same_unequal_parts(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    assert run_evtool("generate", "--count", "120", "--seed", "4", "--out", str(log)).code == 0
    ids: list[str] = []
    for part in ["0:1/3", "1/3:1"]:  # an end part alone implies the sequence 0,1/3,1
        out = tmp_path / f"{part.replace('/', '_').replace(':', '-')}.jsonl"
        ran = run_evtool("replay", str(log), "--target", f"file:{out}", "--rate", "600/s", "--quiet",
                         "--content-mode", "structured", "--segment", part,
                         "--run-dir", str(tmp_path / out.stem))
        assert ran.code == 0, ran.stderr
        ids += [json.loads(line)["id"] for line in out.read_text().splitlines()]
        assert json.loads((tmp_path / out.stem / "meta.json").read_text())["segment_sequence"] == "0,1/3,1"
    assert sorted(ids) == sorted(json.loads(line)["id"] for line in log.read_text().splitlines())
