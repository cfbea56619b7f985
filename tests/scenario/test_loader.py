"""Loading scenario files: the shipped examples load; every mistake is one `file:line: key: what — what
to do` error (ScenarioError, exit 2) at the line of the key, unknown keys with the closest known one."""

from __future__ import annotations

from pathlib import Path

import pytest

from evtool.errors import ExitCode
from evtool.scenario import ScenarioError, load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.exit_code is ExitCode.USAGE
    assert caught.value.hint is None  # the whole line is the message: one line on the terminal
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(f"{path}:"), message
    return message.removeprefix(f"{path}:")


def test_http_example_loads_with_every_table() -> None:
    scenario = load_scenario(EXAMPLES / "http-orders.toml")
    options = scenario.options()
    assert options["target"] == "http://127.0.0.1:8080/events"
    assert options["header"] == ["X-Tenant: demo"]
    assert options["mix"] == "commerce.order.placed=70,inventory.stock.low=20,support.complaint.filed=10"
    assert options["rate"] == "100/s"
    assert options["duration"] == "10s"
    assert options["collect"] == "127.0.0.1:9000"
    assert options["slo"] == ["p99<=2s", "within(2s)>=99%", "lost<=0"]
    assert scenario.name == "checkout over HTTP"
    assert len(scenario.file_sha256) == 64


def test_kafka_example_loads_stages_properties_and_results_topic() -> None:
    scenario = load_scenario(EXAMPLES / "kafka-orders.toml")
    options = scenario.options()
    assert options["target"] == "kafka://127.0.0.1:9092/orders"
    assert options["kafka_property"] == ["linger.ms=10", "compression.type=lz4"]
    assert options["stages"] == "5s:200/s,10s:200/s,5s:0/s"
    assert options["collect"] == "kafka://127.0.0.1:9092/decisions"
    assert options["key"] == "data.order_id"
    assert options["schema_versions"] == "3"


def test_unknown_key_names_its_line_and_the_close_match(tmp_path: Path) -> None:
    text = '[target]\nurl = "http://127.0.0.1:1/e"\n\n[arrival]\nrate = "5/s"\ndurration = "3s"\n'
    message = error_of(tmp_path, text)
    assert message == "6: arrival.durration: unknown key — did you mean 'duration'?"


def test_unknown_table_is_refused_with_suggestion(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'name = "x"\n[arival]\nrate = "5/s"\n')
    assert message == "2: arival: unknown key — did you mean 'arrival'?"


def test_unknown_key_without_close_match_lists_the_known_ones(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[collector]\nzzz = 1\n')
    assert message.startswith("2: collector.zzz: unknown key — known keys of [collector]: address,")


def test_bad_values_are_checked_by_the_options_own_parsers(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[arrival]\n\nrate = "fast"\n') == (
        "3: arrival.rate: 'fast' is not a rate — write a rate such as 500/s, 30/m or 100/h")
    assert error_of(tmp_path, '[arrival]\nduration = "-3s"\n').startswith("2: arrival.duration: ")
    assert error_of(tmp_path, '[target]\nmode = "binery"\n') == (
        "2: target.mode: 'binery' is not one of binary, structured, batch — did you mean 'binary'?")
    assert error_of(tmp_path, '[target]\nworkers = 100\n') == (
        "2: target.workers: 100 is out of range — give a number between 1 and 64")
    assert error_of(tmp_path, '[target]\nretries = "2"\n') == (
        "2: target.retries: expected a whole number, got a string — e.g. retries = 2")
    assert error_of(tmp_path, '[target]\ninsecure = "yes"\n') == (
        "2: target.insecure: expected true or false, got a string — write true or false (no quotes)")
    assert error_of(tmp_path, '[target]\nurl = "htp://x"\n').startswith(
        "2: target.url: 'htp://x' is not a target URL")
    assert error_of(tmp_path, '[objectives]\nslo = ["p99<=2s", "p99 under 2s"]\n').startswith(
        "2: objectives.slo[1]: objective 'p99 under 2s': not an objective evtool understands — forms: p<N><=")
    assert error_of(tmp_path, '[events]\nmix = { order = -1 }\n').startswith(
        "2: events.mix.order: the weight of 'order' must be a positive number")


def test_stages_as_array_of_tables_point_at_the_bad_stage(tmp_path: Path) -> None:
    text = ('[[arrival.stages]]\nduration = "5s"\nrate = "5/s"\n'
            '[[arrival.stages]]\nduration = "5s"\nrat = "5/s"\n')
    assert error_of(tmp_path, text) == (
        "6: arrival.stages[1].rat: stage 2: unknown key 'rat' — did you mean 'rate'?")
    loaded = load_scenario(write(tmp_path, text.replace("rat =", "rate =")))
    assert loaded.arrival.stages == "5s:5/s,5s:5/s"


def test_a_bad_item_of_an_inline_array_points_at_its_own_line(tmp_path: Path) -> None:
    text = ('[arrival]\nstages = [\n    { duration = "5s", rate = "5/s" },\n'
            '    { duration = "5x", rate = "5/s" },\n]\n')
    assert error_of(tmp_path, text).startswith("4: arrival.stages[1]: stage 2: '5x' is not a duration")
    text = '[objectives]\nslo = [\n  "p99<=2s",  # fine\n  "lost<=0", "p99 soon",\n]\n'
    assert error_of(tmp_path, text).startswith("4: objectives.slo[2]: objective 'p99 soon'")


def test_literal_secrets_are_refused_env_references_accepted(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[target.headers]\nX-Tenant = "acme"\nAuthorization = "Bearer s3cr3t"\n')
    assert message.startswith("3: target.headers.Authorization: header 'Authorization' holds a literal value")
    assert "s3cr3t" not in message
    assert message.endswith('— read it from the environment: Authorization = "env:VARIABLE"')
    message = error_of(tmp_path, '[target.kafka]\n"sasl.password" = "hunter2"\n')
    assert message.startswith(
        "2: target.kafka.\"sasl.password\": property 'sasl.password' holds a literal secret")
    assert "hunter2" not in message
    ok = load_scenario(write(tmp_path, '[target.headers]\nAuthorization = "env:API_TOKEN"\n'
                                       '[target.kafka]\nsasl.password = "env:KAFKA_PASSWORD"\n'))
    assert ok.target.headers == ("Authorization: env:API_TOKEN",)
    assert ok.target.kafka == ("sasl.password=env:KAFKA_PASSWORD",)


def test_conflicts_within_the_file(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[arrival]\nrate = "5/s"\nstages = "5s:5/s"\n') == (
        "3: arrival.stages: give rate or stages, not both — "
        "remove one of them (stages ramp the rate; rate holds it)")
    fast = '[arrival]\nas_fast_as_possible = true\ncount = 5\nduration = "3s"\n'
    assert error_of(tmp_path, fast).startswith(
        "4: arrival.duration: as_fast_as_possible sends count events with no schedule")


def test_toml_syntax_error_has_its_line(tmp_path: Path) -> None:
    assert error_of(tmp_path, '[target]\nurl = "http://x\n').startswith("2: invalid TOML: ")


def test_paths_are_relative_to_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "s.toml"
    path.write_text('[events]\nschemas = "../schemas"\n[output]\nrun_dir = "runs/a"\n', encoding="utf-8")
    loaded = load_scenario(path)
    assert loaded.events.schemas == (tmp_path / "schemas").resolve()
    assert loaded.output.run_dir == (tmp_path / "sub" / "runs" / "a").resolve()


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.toml: no such scenario file — "):
        load_scenario(tmp_path / "nope.toml")


def test_where_names_the_line_of_an_option(tmp_path: Path) -> None:
    loaded = load_scenario(write(tmp_path, '\n[events]\nmix = "x=1"\n'))
    assert loaded.where("mix") == f"{tmp_path / 's.toml'}:3: events.mix"


def test_segments_table_sets_the_segment_its_sequence_and_the_start(tmp_path: Path) -> None:
    text = ('[segments]\nsegment = "1/4:1/2"\nsequence = "0,1/4,1/2,1"\nstart_at = 2026-12-01T10:00:00Z\n')
    options = load_scenario(write(tmp_path, text)).options()
    assert options["segment"] == "1/4:1/2"
    assert options["segment_sequence"] == "0,1/4,1/2,1"
    assert options["start_at"] == "2026-12-01T10:00:00+00:00"
    listed = load_scenario(write(tmp_path, '[segments]\nsequence = ["0", "1/3", "1"]\n')).options()
    assert listed["segment_sequence"] == "0,1/3,1"
    # a middle part alone: its sequence may come from the command line (checked when the run starts)
    middle = load_scenario(write(tmp_path, '[segments]\nsegment = "1/4:1/2"\n')).options()
    assert middle["segment"] == "1/4:1/2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[segments]\nsegment = "3/4:1/4"\n',
         "2: segments.segment: the start must be below the end — e.g. 1/4:1/2"),
        ('[segments]\nsegment = "4/4"\n', "2: segments.segment: the index must be 0..3 of 4 segments"),
        ('[segments]\n\nsequence = "0,1/2"\n', "3: segments.sequence: must end at 1 (the whole schedule)"),
        ('[segments]\nsegment = "1/4:1/2"\nsequence = "0,1/3,1"\n',
         "2: segments.segment: 1/4 is not a point of sequence 0,1/3,1"),
        ('[segments]\nstart_at = "soon"\n', "2: segments.start_at: expected an ISO 8601 instant"),
        ('[segments]\nstart_at = 2026-12-01T10:00:00\n', "2: segments.start_at: a local time (no zone)"),
        ('[segments]\nsegmnet = "0/2"\n', "2: segments.segmnet: unknown key — did you mean 'segment'?"),
    ],
)
def test_a_bad_segment_key_is_one_line_at_its_line(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text).startswith(expected)
