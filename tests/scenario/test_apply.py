"""A scenario under the command line: what wins, what meta records (redacted), and the scenario hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evtool.scenario import load_scenario, merge

# simulate's parameters at their defaults (what typer hands the command when nothing is given)
DEFAULTS: dict[str, Any] = {
    "target": None, "rate": None, "arrival": "constant", "stages": None, "duration": None, "count": None,
    "mix": None, "flow": None, "schema_versions": None, "seed": None, "schemas": None, "mode": "binary",
    "batch_size": 100, "header": None, "timeout": "10s", "insecure": False, "client": "auto", "retries": 0,
    "max_in_flight": 10_000, "grace": "5s", "workers": 1, "run_dir": None, "quiet": False, "collect": None,
    "correlate_by": None, "result_timeout": "10s", "kafka_property": None, "key": None,
    "as_fast_as_possible": False, "slo": None, "summary_export": None, "scenario": None,
}

TEXT = '''\
[target]
url = "http://127.0.0.1:8080/events?api_key=abc"
retries = 2
[target.headers]
X-Tenant = "acme"
Authorization = "env:API_TOKEN"
[target.kafka]
"linger.ms" = 20
[events]
seed = 7
[arrival]
rate = "100/s"
process = "poisson"
duration = "10s"
[objectives]
slo = ["p99<=2s", "lost<=0"]
[output]
run_dir = "runs/x"
'''


def scenario(tmp_path: Path, text: str = TEXT, name: str = "s.toml") -> Any:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def test_file_fills_what_the_command_line_left_at_its_default(tmp_path: Path) -> None:
    merged = merge(scenario(tmp_path), DEFAULTS, given=set())
    values = merged.values
    assert values["target"] == "http://127.0.0.1:8080/events?api_key=abc"
    assert values["retries"] == 2
    assert values["rate"] == "100/s"
    assert values["arrival"] == "poisson"
    assert values["seed"] == 7
    assert values["slo"] == ["p99<=2s", "lost<=0"]
    assert values["header"] == ["X-Tenant: acme", "Authorization: env:API_TOKEN"]
    assert values["timeout"] == "10s"  # not in the file: the option's default
    assert merged.record.overridden == {}
    assert merged.record.sources["arrival.rate"] == "scenario"


def test_command_line_wins_and_meta_says_so(tmp_path: Path) -> None:
    params = {**DEFAULTS, "retries": 0, "duration": "3s", "slo": ["p50<=1s"]}
    merged = merge(scenario(tmp_path), params, given={"retries", "duration", "slo"})
    assert merged.values["retries"] == 0  # given explicitly, even though it equals the default
    assert merged.values["duration"] == "3s"
    assert merged.values["slo"] == ["p50<=1s"]  # objectives are replaced, not added to
    assert merged.record.overridden["target.retries"] == {
        "scenario": 2, "command_line": 0, "won": "command line"}
    assert merged.record.overridden["arrival.duration"]["scenario"] == "10s"
    assert merged.record.sources["arrival.duration"] == "command line"
    assert merged.record.resolved["arrival"]["duration"] == "3s"


def test_arrival_shape_from_the_command_line_replaces_the_files(tmp_path: Path) -> None:
    params = {**DEFAULTS, "stages": "1s:5/s"}
    merged = merge(scenario(tmp_path), params, given={"stages"})
    assert merged.values["stages"] == "1s:5/s"
    assert merged.values["rate"] is None  # not rate and stages together
    assert merged.values["arrival"] == "constant"  # the file's poisson does not apply to ramps
    params = {**DEFAULTS, "as_fast_as_possible": True, "count": 50}
    merged = merge(scenario(tmp_path), params, given={"as_fast_as_possible", "count"})
    assert merged.values["rate"] is None
    assert merged.values["duration"] is None


def test_headers_and_properties_merge_by_name(tmp_path: Path) -> None:
    params = {**DEFAULTS, "header": ["x-tenant: other", "X-Extra: 1"], "kafka_property": ["acks=1"]}
    merged = merge(scenario(tmp_path), params, given={"header", "kafka_property"})
    assert merged.values["header"] == ["Authorization: env:API_TOKEN", "x-tenant: other", "X-Extra: 1"]
    assert merged.values["kafka_property"] == ["linger.ms=20", "acks=1"]


def test_record_is_redacted(tmp_path: Path) -> None:
    record = merge(scenario(tmp_path), DEFAULTS, given=set()).record.to_meta()
    text = repr(record)
    assert "abc" not in text  # the URL's query value
    assert "acme" not in text  # a literal header value may be a secret: never written
    assert record["resolved"]["target"]["headers"] == ["X-Tenant: ***", "Authorization: env:API_TOKEN"]
    assert record["resolved"]["target"]["url"] == "http://127.0.0.1:8080/events?api_key=***"


def test_hash_is_of_the_scenario_not_of_where_it_was_written(tmp_path: Path) -> None:
    first = merge(scenario(tmp_path), DEFAULTS, given=set()).record
    moved = TEXT.replace('run_dir = "runs/x"', 'run_dir = "runs/y"\nquiet = true')
    elsewhere = merge(scenario(tmp_path, moved, "t.toml"), DEFAULTS, given=set()).record
    assert first.sha256 == elsewhere.sha256
    assert first.file_sha256 != elsewhere.file_sha256
    other_run_dir = merge(scenario(tmp_path), {**DEFAULTS, "run_dir": Path("z")}, given={"run_dir"}).record
    assert other_run_dir.sha256 == first.sha256
    faster = merge(scenario(tmp_path), {**DEFAULTS, "rate": "200/s"}, given={"rate"}).record
    assert faster.sha256 != first.sha256
    reseeded_file = scenario(tmp_path, TEXT.replace("seed = 7", "seed = 8"), "u.toml")
    reseeded = merge(reseeded_file, DEFAULTS, set()).record
    assert reseeded.sha256 != first.sha256


def test_the_parts_of_one_scenario_share_its_hash(tmp_path: Path) -> None:
    first = merge(scenario(tmp_path), DEFAULTS, given=set()).record
    split = TEXT + '[segments]\nsegment = "0:1/4"\nsequence = "0,1/4,1/2,1"\nstart_at = "+30s"\n'
    part = merge(scenario(tmp_path, split, "p.toml"), DEFAULTS, given=set()).record
    assert part.sha256 == first.sha256
    assert part.resolved["segments"] == {"segment": "0:1/4", "sequence": "0,1/4,1/2,1", "start_at": "+30s"}
    other = merge(scenario(tmp_path, split, "p.toml"), {**DEFAULTS, "segment": "1/4:1/2"}, given={"segment"})
    assert other.values["segment"] == "1/4:1/2"  # the command line's part wins over the file's
    assert other.record.sha256 == first.sha256
