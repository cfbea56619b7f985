"""Transports by URL scheme: `http`, `https`, `file`, `-` (stdout), `kafka`, `memory`.

Each transport is a module here that registers a `TransportSpec` when imported. The table of
built-in modules lets `make_target` import only the one a run uses (aiohttp costs a tenth of a
second, librdkafka more), so `evtool --help` and a file dry run load neither. Another transport
(NATS, Redis Streams) is a new module that calls `register`, not a change to the dispatcher.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from evtool.errors import UsageError

if TYPE_CHECKING:
    from evtool.load.targets.base import Target, TargetOptions


def _no_checks(options: TargetOptions) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TransportSpec:
    """How to check options for and build one transport's target."""

    schemes: tuple[str, ...]  # "kafka", or "-" for stdout
    make: Callable[[TargetOptions], Target]
    summary: str  # the form of the target, for --help and errors: "kafka://HOST:PORT[,HOST:PORT]/TOPIC"
    validate: Callable[[TargetOptions], None] = field(default=_no_checks)


# the built-in transports' modules, imported when their scheme is first asked for
BUILTIN: dict[str, str] = {
    "http": "evtool.load.targets.http_transport",
    "https": "evtool.load.targets.http_transport",
    "file": "evtool.load.targets.file",
    "-": "evtool.load.targets.file",
    "kafka": "evtool.load.targets.kafka",
    "memory": "evtool.load.targets.memory",
}
_REGISTERED: dict[str, TransportSpec] = {}


def register(spec: TransportSpec) -> TransportSpec:
    """Make `spec` the transport of its schemes (a later registration replaces an earlier one)."""
    for scheme in spec.schemes:
        _REGISTERED[scheme] = spec
    return spec


def scheme_of(target: str) -> str:
    """The scheme a target names: `-`, the part before `:` (`file:out.jsonl`, `kafka://…`)."""
    if target == "-":
        return "-"
    scheme, sep, _ = target.partition(":")
    scheme = scheme.lower()
    if not sep or (scheme not in _REGISTERED and scheme not in BUILTIN):
        known = ", ".join(sorted(s for s in {*BUILTIN, *_REGISTERED} if s != "-"))
        raise UsageError(
            f"--target {_safe(target)!r}: unknown kind of target",
            hint=f"use a URL with one of the schemes {known}, file:PATH, or - (stdout)",
        )
    return scheme


def transport_for(target: str) -> TransportSpec:
    scheme = scheme_of(target)
    spec = _REGISTERED.get(scheme)
    if spec is None:
        importlib.import_module(BUILTIN[scheme])
        spec = _REGISTERED.get(scheme)
        if spec is None:  # a built-in module that forgot to register: a bug, said plainly
            raise RuntimeError(f"{BUILTIN[scheme]} did not register the {scheme!r} transport")
    return spec


def validate_target(options: TargetOptions) -> None:
    """Every check of `options` before anything is sent: the shared ones, then its transport's."""
    options.validate()
    transport_for(options.target).validate(options)


def make_target(options: TargetOptions) -> Target:
    """The target for `options.target`, from its scheme's transport."""
    return transport_for(options.target).make(options)


@contextlib.asynccontextmanager
async def opened(target: Target) -> AsyncIterator[Target]:
    """`async with opened(target):` opens it and always closes it, for any target."""
    await target.open()
    try:
        yield target
    finally:
        await target.close()


class AsyncTarget:
    """A mixin that makes a target an async context manager (`async with KafkaTarget(...) as t:`)."""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _safe(target: str) -> str:
    from evtool.load.targets.base import redact_url

    return redact_url(target)
