"""The result-source registry: `--collect` picks a source by its scheme.

``host:port`` and ``http://host:port`` are the HTTP collector (`evtool.load.collector`),
``kafka://host:port/topic`` a consumer of the results topic (`evtool.load.sources.kafka`). A
source is registered with a cheap `check` of its address (run while the options are parsed,
importing nothing heavy) and the module that opens it (imported only when a run starts, so
`evtool --help` does not pay for aiohttp). The opener is `open_source(spec, run_dir, clock)`
returning a `ResultSource`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evtool.errors import UsageError

if TYPE_CHECKING:
    from evtool.load.sources.base import CollectorSpec, ResultSource
    from evtool.results.clock import RunClock


@dataclass(frozen=True, slots=True)
class SourceKind:
    scheme: str
    check: Callable[[str], None]  # raises UsageError naming --collect
    module: str  # defines open_source(spec, run_dir, clock) -> ResultSource


_KINDS: dict[str, SourceKind] = {}


def register_source(kind: SourceKind) -> None:
    _KINDS[kind.scheme] = kind


def scheme_of(address: str) -> str:
    scheme, sep, _ = address.partition("://")
    return scheme.lower() if sep else "http"


def _kind(address: str) -> SourceKind:
    kind = _KINDS.get(scheme_of(address))
    if kind is None:
        raise UsageError(
            f"--collect {address!r}: unknown scheme {scheme_of(address)!r}",
            hint=f"use HOST:PORT or one of {', '.join(s + '://' for s in sorted(_KINDS))}",
        )
    return kind


def check_address(address: str) -> None:
    _kind(address).check(address)


def open_source(spec: CollectorSpec, run_dir: Path, clock: RunClock) -> ResultSource:
    module = importlib.import_module(_kind(spec.address).module)
    source: ResultSource = module.open_source(spec, run_dir, clock)
    return source


def http_host_port(address: str) -> tuple[str, int]:
    """`host:port` or `http://host:port[/]` as (host, port); port 0 means any free port."""
    text = address[len("http://"):] if address.lower().startswith("http://") else address
    text = text.rstrip("/")
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or "/" in text:
        raise UsageError(f"--collect {address!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
    if not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--collect {address!r}: port {port!r} is not a number from 0 to 65535",
                         hint="e.g. 127.0.0.1:9000 (port 0: any free port)")
    return host, int(port)


def _check_http(address: str) -> None:
    http_host_port(address)


def _check_kafka(address: str) -> None:
    """`kafka://HOST:PORT[,HOST:PORT]/TOPIC` (`kafka:///TOPIC`: the brokers of [kafka], when it opens)."""
    from evtool.load.targets.kafka import parse_url

    parse_url(address, "localhost:9092", option="--collect")


register_source(SourceKind("http", _check_http, "evtool.load.collector"))
register_source(SourceKind("kafka", _check_kafka, "evtool.load.sources.kafka"))

__all__ = ["SourceKind", "check_address", "http_host_port", "open_source", "register_source", "scheme_of"]
