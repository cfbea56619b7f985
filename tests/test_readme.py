"""Every command README shows runs as written, with the outcome README shows.

The commands are read from README itself: each line of a ```sh block (a trailing `\\` joins
the next line, a `  # comment` is dropped) and each `$ command` line of a ```text block, whose
following lines are the output README shows for it. They run in README's order, through
`bash -c` with the installed evtool first on PATH, in a temporary folder holding a git
repository of this checkout's schemas/ and evtool.toml (what `schema check --against` needs).

Substitutions, so that tests never collide on fixed ports or topics: port 8080 (the endpoint)
and port 9000 (the collector) become free ports wherever they appear in a command, and
`kafka://127.0.0.1:9092/orders` becomes the broker of EVTOOL_KAFKA_BOOTSTRAP and a fresh topic.

Not run, each for the reason in EXCLUDED: the install commands (`python3 -m venv`, `pip
install`; the test runs the evtool already installed) and the test suite itself. Every other
command needs an entry in EXPECTED (its exit code and what must appear), and every entry a
command in README, so README and this test cannot drift apart. `evtool consumer serve` runs in
the background until the walk ends; Kafka commands run only with EVTOOL_KAFKA_BOOTSTRAP set,
and are skipped with the reason otherwise (a failure with EVTOOL_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.cli import installed_evtool
from tests.support.kafka_broker import Broker, bootstrap_address

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_COMMENT = re.compile(r"\s+#\s.*$")
_ELISION = "…"

EXCLUDED: dict[str, str] = {
    r"^python3 -m venv ": "installs evtool itself; the test runs the evtool already installed",
    r"^pip install ": "installs packages; the test environment has them",
}
_SUITE = r"python -m pytest"  # the quick start's `pip install ".[test]" && python -m pytest`


@dataclass(frozen=True, slots=True)
class Command:
    text: str
    line: int  # README line, for the failure message
    shown: tuple[str, ...] = ()  # output README shows after a `$ command`


def readme_commands(readme: Path = README) -> list[Command]:
    text = readme.read_text(encoding="utf-8")
    commands: list[Command] = []
    for block in _FENCE.finditer(text):
        lang, body = block.group(1), block.group(2)
        first_line = text.count("\n", 0, block.start(2)) + 1
        if lang == "sh":
            pending, start = "", 0
            for offset, raw in enumerate(body.splitlines()):
                line = _COMMENT.sub("", raw).rstrip()
                start = offset if not pending else start
                if line.endswith("\\"):
                    pending += line[:-1].rstrip() + " "
                    continue
                joined = (pending + line.strip()).strip()
                pending = ""
                if joined:
                    commands.append(Command(" ".join(joined.split()), first_line + start))
        elif lang == "text":
            lines = body.splitlines()
            starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
            for n, i in enumerate(starts):
                end = starts[n + 1] if n + 1 < len(starts) else len(lines)
                commands.append(Command(lines[i][2:].strip(), first_line + i, tuple(lines[i + 1 : end])))
    return commands


def excluded_reason(command: str) -> str | None:
    for pattern, reason in EXCLUDED.items():
        if re.search(pattern, command):
            return reason
    if _SUITE in command:
        return "runs this test suite, which includes this test"
    return None


@dataclass
class Walk:
    """The temporary project the commands run in, and the ports and topic substituted."""

    cwd: Path
    ports: dict[str, int]
    kafka: str | None = None  # "HOST:PORT/TOPIC"

    def substitute(self, command: str) -> str:
        if self.kafka is not None:
            command = command.replace("kafka://127.0.0.1:9092/orders", f"kafka://{self.kafka}")
        for port, free in self.ports.items():
            command = re.sub(rf"(?<![\d.]){port}(?!\d)", str(free), command)
        return command


Setup = Callable[[Walk], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def _no_setup(walk: Walk) -> Iterator[None]:
    yield


@contextlib.contextmanager
def _order_v4_with_a_required_field(walk: Walk) -> Iterator[None]:
    """README's story: a new version 4 of the order event adds `risk_band` with no default."""
    folder = walk.cwd / "schemas" / "commerce.order.placed"
    schema = json.loads((folder / "3.avsc").read_text())
    schema["fields"].append({"name": "risk_band", "type": "string"})
    (folder / "4.avsc").write_text(json.dumps(schema, indent=2) + "\n")
    try:
        yield
    finally:
        (folder / "4.avsc").unlink()  # the commands after it send the published versions


@contextlib.contextmanager
def _examples(walk: Walk) -> Iterator[None]:
    """examples/ in the walk's project, its ports (8080, 9000) the walk's free ones, as in commands."""
    folder = walk.cwd / "examples"
    folder.mkdir(exist_ok=True)
    for example in (ROOT / "examples").glob("*.toml"):
        (folder / example.name).write_text(walk.substitute(example.read_text(encoding="utf-8")))
    yield


@dataclass(frozen=True)
class Expect:
    code: int = 0
    contains: tuple[str, ...] = ()
    shown: str = "none"  # `$ command`: "all" shown lines (but `…`) appear verbatim, or "first", "none"
    setup: Setup = _no_setup
    background: bool = False  # a server: started, waited for, stopped when the walk ends
    kafka: bool = False


EXPECTED: dict[str, Expect] = {
    "evtool demo": Expect(contains=("PASS  target 2.00 s · 4000 events", "all compatible")),
    "evtool schema check --against origin/main --format github": Expect(
        contains=("::notice title=evtool schema check::4 subjects",)
    ),
    "evtool schema check --against main": Expect(
        code=1, shown="all", setup=_order_v4_with_a_required_field
    ),
    "evtool consumer serve --port 8080 --concurrency 8 --results-to http://127.0.0.1:9000/results": Expect(
        background=True
    ),
    "evtool simulate --target http://127.0.0.1:8080/events --rate 100/s --duration 10s "
    "--collect 127.0.0.1:9000 --run-dir runs/checkout-100rps": Expect(
        contains=(
            "done: scheduled 1000 = acked 1000 + failed 0 + dropped 0 + aborted 0",
            "run: runs/checkout-100rps",
        )
    ),
    "evtool generate --count 200 --out events.jsonl": Expect(contains=("repeat with --seed",)),
    "evtool replay events.jsonl --speed 10 --target http://127.0.0.1:8080/events "
    "--collect 127.0.0.1:9000": Expect(
        contains=("done: scheduled 200 = acked 200 + failed 0",)
    ),
    "evtool simulate --target kafka://127.0.0.1:9092/orders --rate 500/s --duration 10s": Expect(
        contains=("done: scheduled 5000 = acked 5000 + failed 0",), kafka=True
    ),
    "evtool latency-report runs/checkout-100rps --slo 'p99<=2s' --slo 'within(500ms)>=99%'": Expect(
        shown="first", contains=("p99<=2s ", "pass")
    ),
    "evtool run examples/http-orders.toml --summary-export summary.json": Expect(
        contains=("done: scheduled 1000 = acked 1000 + failed 0", "verdict: PASS",
                  "summary written to summary.json"),
        setup=_examples,
    ),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(installed_evtool()).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"  # README's tables were printed that wide; the checks read whole lines
    return env


def _project(tmp: Path) -> Path:
    """A git repository of this checkout's catalogue, with `main` and `origin/main` at its commit."""
    shutil.copytree(ROOT / "schemas", tmp / "schemas")
    shutil.copy(ROOT / "evtool.toml", tmp / "evtool.toml")
    git = ["git", "-c", "user.name=readme", "-c", "user.email=readme@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=tmp, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "catalogue"], cwd=tmp, check=True)
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=tmp, check=True)
    return tmp


def _start(command: str, walk: Walk, env: dict[str, str]) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        ["bash", "-c", f"exec {command}"], cwd=walk.cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    port = walk.ports["8080"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, f"{command!r} exited: {server.stdout.read() if server.stdout else ''}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        time.sleep(0.2)
    server.kill()
    pytest.fail(f"{command!r} did not answer on port {port} within 30 s")


def _stop(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)  # Ctrl-C, as README says
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail("the background server did not stop on Ctrl-C within 15 s")


def _check(command: Command, expect: Expect, done: subprocess.CompletedProcess[str]) -> None:
    where = f"README.md:{command.line}: {command.text}"
    output = done.stdout + done.stderr
    assert done.returncode == expect.code, f"{where}\nexit {done.returncode}, not {expect.code}\n{output}"
    for fragment in expect.contains:
        assert fragment in output, f"{where}\n{fragment!r} not in its output:\n{output}"
    lines = {line.rstrip() for line in output.splitlines()}
    shown = [line.rstrip() for line in command.shown if line.strip() and line.strip() != _ELISION]
    if expect.shown == "first":
        shown = shown[:1]
    if expect.shown != "none":
        assert shown, f"{where}: README shows no output to compare"
        missing = [line for line in shown if line not in lines]
        assert not missing, f"{where}\nREADME shows lines it does not print: {missing}\n{output}"


def _walk(walk: Walk, commands: list[Command]) -> None:
    env = _environment()
    servers: list[subprocess.Popen[str]] = []
    try:
        for command in commands:
            expect = EXPECTED[command.text]
            argv = walk.substitute(command.text)
            if expect.background:
                servers.append(_start(argv, walk, env))
                continue
            with expect.setup(walk):
                done = subprocess.run(
                    ["bash", "-c", argv], cwd=walk.cwd, env=env, text=True, capture_output=True, timeout=180,
                    check=False,
                )
            _check(command, expect, done)
    finally:
        for server in servers:
            _stop(server)


def _runnable() -> list[Command]:
    return [c for c in readme_commands() if excluded_reason(c.text) is None]


def test_every_readme_command_has_an_expectation_and_every_expectation_a_command() -> None:
    commands = readme_commands()
    runnable = {c.text for c in commands if excluded_reason(c.text) is None}
    excluded = [c.text for c in commands if excluded_reason(c.text) is not None]
    assert runnable - EXPECTED.keys() == set(), "README commands with no entry in EXPECTED"
    assert EXPECTED.keys() - runnable == set(), "EXPECTED entries README no longer shows"
    # what is not run is the quick start's installs and the suite, nothing that slipped in
    assert all(re.match(r"(python3 -m venv |pip install )", text) for text in excluded), excluded


def test_the_extraction_reads_continuations_comments_and_shown_output(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "```sh\nevtool a --x 1 \\\n    --y 2\npip install 'evtool[kafka]'   # why\n```\n"
        "```text\n$ evtool b\nout 1\n…\nout 2\n$ evtool c\n```\n```toml\nx = 1\n```\n"
    )
    assert readme_commands(readme) == [
        Command("evtool a --x 1 --y 2", 2),
        Command("pip install 'evtool[kafka]'", 4),
        Command("evtool b", 7, ("out 1", "…", "out 2")),
        Command("evtool c", 11),
    ]


def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    walk = Walk(_project(tmp_path), ports={"8080": _free_port(), "9000": _free_port()})
    _walk(walk, [c for c in _runnable() if not EXPECTED[c.text].kafka])
    assert (walk.cwd / "runs" / "checkout-100rps" / "meta.json").is_file()


def test_readme_kafka_commands_run_as_written(tmp_path: Path) -> None:
    """Skipped with the reason without EVTOOL_KAFKA_BOOTSTRAP (failed with EVTOOL_REQUIRE_SERVICES=1)."""
    commands = [c for c in _runnable() if EXPECTED[c.text].kafka]
    assert commands, "README shows no Kafka command: drop this test or the Kafka section's flag"
    broker = Broker(bootstrap_address())  # skips with the reason without EVTOOL_KAFKA_BOOTSTRAP
    topic = broker.create_topic(prefix="readme-orders")
    walk = Walk(_project(tmp_path), ports={}, kafka=f"{broker.bootstrap}/{topic}")
    _walk(walk, commands)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("evtool consumer serve --port 8080", "evtool consumer serve --port 18080"),
        ("--target http://127.0.0.1:8080/events --collect 127.0.0.1:9000", None),
        ("--target kafka://127.0.0.1:9092/orders", "--target kafka://b:1/t"),
        ("--count 80800 --rate 19000/s", "--count 80800 --rate 19000/s"),
    ],
)
def test_substitution_replaces_ports_and_topic_only(given: str, expected: str | None) -> None:
    walk = Walk(Path("."), ports={"8080": 18080, "9000": 19000}, kafka="b:1/t")
    if expected is None:
        expected = "--target http://127.0.0.1:18080/events --collect 127.0.0.1:19000"
    assert walk.substitute(given) == expected

