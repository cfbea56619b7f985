"""What `--target` and `-H` may carry: secrets never reach a file, report or output; values HTTP
cannot carry and impossible ports are refused before anything is sent (exit 2, one line).

End to end: the installed `evtool` in a subprocess, against a real server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from tests.support.cli import run_evtool
from tests.support.http_servers import faulty_server

SECRETS = {
    "query": "sEcReT-query-1",
    "other_query": "sEcReT-tenant-2",
    "password": "sEcReT-password-3",
    "literal": "sEcReT-literal-4",
    "equals": "sEcReT-equals-5",
    "attached": "sEcReT-attached-6",
    "env": "sEcReT-env-7",
}


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, secret in SECRETS.items() if secret.encode() in data]


@pytest.mark.e2e
def test_secrets_reach_the_server_and_nothing_else(tmp_path: Path) -> None:
    """A token in the query, a password in the URL, literal header values under ordinary names
    (in every spelling of -H) and an env: secret: sent, and absent from every file of the runs
    (simulate and replay) and from every report format and every output."""
    outputs: list[str] = []
    with faulty_server() as server:
        url = (
            f"http://user:{SECRETS['password']}@127.0.0.1:{server.port}/events"
            f"?api_key={SECRETS['query']}&tenant={SECRETS['other_query']}"
        )
        headers = [
            "-H", f"X-Custom-Auth: {SECRETS['literal']}",
            f"--header=X-Plain: {SECRETS['equals']}",
            f"-HX-Attached: {SECRETS['attached']}",
            "-H", "X-Api-Token: env:EVTOOL_TEST_SECRET",
        ]  # fmt: skip
        env = {"EVTOOL_TEST_SECRET": SECRETS["env"]}
        sim = run_evtool(
            "simulate", "-t", url, *headers, "--rate", "100/s", "-n", "20", "--run-dir", tmp_path / "sim",
            env=env,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stderr
        events = tmp_path / "events.jsonl"
        generated = run_evtool("generate", "-n", "5", "-o", events)
        assert generated.returncode == 0, generated.stderr
        rep = run_evtool(
            "replay", events, "--target", url, *headers, "--speed", "1000", "--run-dir", tmp_path / "rep",
            env=env,
        )  # fmt: skip
        assert rep.returncode == 0, rep.stderr
        heads = b"\n".join(server.heads())
    assert set(_leaks(heads)) == set(SECRETS) - {"password"}  # they were sent (the password as Basic auth)
    assert base64.b64encode(f"user:{SECRETS['password']}".encode()) in heads
    outputs += [sim.stdout, sim.stderr, rep.stdout, rep.stderr]
    for run in ("sim", "rep"):
        meta = json.loads((tmp_path / run / "meta.json").read_text())
        assert "X-Custom-Auth: ***" in meta["options"]["headers"]
        assert "X-Api-Token: env:EVTOOL_TEST_SECRET" in meta["options"]["headers"]  # a reference, kept
        assert "api_key=***" in meta["target"]
        for fmt in ("text", "json", "markdown", "html"):
            out = tmp_path / f"report-{run}.{fmt}"
            report = run_evtool("latency-report", tmp_path / run, "--format", fmt, "-o", out)
            assert report.returncode in (0, 1), report.stderr
            outputs += [report.stdout, report.stderr]
            assert out.stat().st_size > 0
            assert _leaks(out.read_bytes()) == [], (fmt, out.read_text()[:2000])
            shown = run_evtool("latency-report", tmp_path / run, "--format", fmt)
            outputs += [shown.stdout, shown.stderr]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "events.jsonl"]
    assert len(files) >= 8
    for path in files:
        assert _leaks(path.read_bytes()) == [], path
    for text in outputs:
        assert _leaks(text) == [], text


CR_LF = "tenant\r\nX-Injected: 1"


@pytest.mark.e2e
@pytest.mark.parametrize("client", ["lean", "aiohttp"])
@pytest.mark.parametrize(
    ("header", "env", "shown"),
    [
        ("X-Tenant: env:EVTOOL_TEST_VALUE", {"EVTOOL_TEST_VALUE": CR_LF}, "line break"),
        ("X-Tenant: env:EVTOOL_TEST_VALUE", {"EVTOOL_TEST_VALUE": "tenant\nX-Injected: 1"}, "line break"),
        ("X-Tenant: tenant\rX-Injected: 1", {}, "line break"),
        ("X-Tenant: env:EVTOOL_TEST_VALUE", {"EVTOOL_TEST_VALUE": "t\x1bX-Injected"}, "control character"),
        ("X-Tenant: env:EVTOOL_TEST_VALUE", {"EVTOOL_TEST_VALUE": "X-Injected-€uro"}, "outside Latin-1"),
        ("X-Tenant: X-Injected-日本", {}, "outside Latin-1"),
    ],
)
def test_header_values_http_cannot_carry_are_refused_before_sending(
    tmp_path: Path, client: str, header: str, env: dict[str, str], shown: str
) -> None:
    with faulty_server() as server:
        done = run_evtool(
            "simulate", "-t", server.url, "-H", header, "--client", client, "--rate", "100/s", "-n", "5",
            "--run-dir", tmp_path / "run", env=env,
        )  # fmt: skip
        received = server.received()
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert received == 0
    assert not (tmp_path / "run").exists()
    first = done.stderr.strip().splitlines()[0]
    assert "-H X-Tenant" in first
    assert shown in first
    assert "Traceback" not in done.stderr
    assert "X-Injected" not in done.stdout + done.stderr  # the value is never printed


@pytest.mark.e2e
@pytest.mark.parametrize("client", ["auto", "aiohttp"])
@pytest.mark.parametrize("port", ["99999", "abc", "0", "-1"])
def test_target_port_that_cannot_be_is_refused_before_sending(tmp_path: Path, client: str, port: str) -> None:
    done = run_evtool(
        "simulate", "-t", f"http://127.0.0.1:{port}/events?api_key={SECRETS['query']}", "--client", client,
        "--rate", "10/s", "-n", "1", "--run-dir", tmp_path / "run",
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert "--target" in lines[0]
    assert "port" in lines[0]
    assert len(lines) <= 2  # the line, and perhaps its hint
    assert "Traceback" not in done.stderr
    assert _leaks(done.stdout + done.stderr) == []
    assert not (tmp_path / "run").exists()
