"""Hosts on one machine: Linux network namespaces on a bridge, for tests of several senders.

Each host is a namespace with one veth into a bridge of this test's own, and an address
10.<net>.0.<n>/24 on it (<net> from the process id, so parallel test runs do not meet). Needs
root and iproute2; without them the test is skipped with the reason (a failure in CI).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.kafka_broker import missing_service


@dataclass(frozen=True, slots=True)
class Host:
    name: str  # the namespace
    address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@contextlib.contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """`count` hosts on one bridge; removed again when the block ends (also when it fails)."""
    if shutil.which("ip") is None:
        missing_service("iproute2 (ip) is not installed: cannot make network namespaces")
    if os.geteuid() != 0:
        missing_service("network namespaces need root")
    tag = f"{os.getpid() % 10000}"
    net = 100 + os.getpid() % 150
    bridge = f"evb{tag}"
    made: list[Host] = []
    try:
        try:
            _ip("link", "add", bridge, "type", "bridge")
        except RuntimeError as exc:
            missing_service(f"cannot make a bridge for network namespaces: {exc}")
        _ip("link", "set", bridge, "up")
        for n in range(count):
            host = Host(f"evt{tag}h{n}", f"10.{net}.0.{n + 1}")
            _ip("netns", "add", host.name)
            made.append(host)
            outside, inside = f"ev{tag}o{n}", f"ev{tag}i{n}"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.name)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("netns", "exec", host.name, "ip", "addr", "add", f"{host.address}/24", "dev", inside)
            _ip("netns", "exec", host.name, "ip", "link", "set", inside, "up")
            _ip("netns", "exec", host.name, "ip", "link", "set", "lo", "up")
        yield made
    finally:
        for host in made:
            with contextlib.suppress(RuntimeError):
                _ip("netns", "del", host.name)  # its veth end goes with it, and so does the peer
        with contextlib.suppress(RuntimeError):
            _ip("link", "del", bridge)


def realtime(argv: list[str]) -> list[str]:
    """`argv` run under SCHED_FIFO (util-linux `chrt`), for a measured process and what it execs.

    Why: on a shared box the other tenants' work sits in other cgroups, where `nice` does not
    reach, and a sender or sink waiting for a core sends or stamps in bursts (measured on this
    2-core box at CPU pressure 'some' 60 %: CV per 10 ms 0.2-0.7 at normal priority, 0.02-0.05 under
    SCHED_FIFO). Arrival smoothness is then evtool's, not the neighbours'. The kernel's RT
    throttling (sched_rt_runtime_us) still leaves the rest of the box 5 % of each second.
    """
    if shutil.which("chrt") is None:
        missing_service("chrt (util-linux) is not installed: cannot run measured processes under SCHED_FIFO")
    return ["chrt", "--fifo", "20", *argv]
