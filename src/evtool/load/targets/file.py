"""File and stdout targets for dry runs: one structured CloudEvent JSON per line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from evtool.errors import TargetError, UsageError
from evtool.load.targets.base import OK_RESULT, OutEvent, RawBatch, SendResult


class FileTarget:
    """Writes JSONL to `path`, or to stdout when `path` is None. Every write counts as acknowledged."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._handle: BinaryIO | None = None

    @property
    def description(self) -> str:
        return "-" if self._path is None else f"file:{self._path}"

    async def open(self) -> None:
        if self._path is None:
            self._handle = sys.stdout.buffer
            return
        try:
            self._handle = Path(self._path).open("ab")  # noqa: SIM115 - held for the run
        except OSError as exc:
            raise TargetError(f"target file:{self._path}: cannot open for writing ({exc.strerror})") from None

    async def send(self, events: Sequence[OutEvent]) -> SendResult:
        assert self._handle is not None, "open() first"
        if isinstance(events, RawBatch):
            self._handle.write(events.text())
        else:
            self._handle.write(b"".join(e.structured() + b"\n" for e in events))
        return OK_RESULT

    async def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            if self._path is not None:
                self._handle.close()
            self._handle = None


# -- registration: registry.BUILTIN imports this module for file:PATH and - ---------------------------
from evtool.load.targets.base import Target, TargetOptions  # noqa: E402
from evtool.load.targets.registry import TransportSpec, register  # noqa: E402


def _make(options: TargetOptions) -> Target:
    return FileTarget(None if options.target == "-" else options.target[5:])


def _validate(options: TargetOptions) -> None:
    if options.target != "-" and not options.target[5:]:
        raise UsageError("--target file: needs a path, e.g. file:out.jsonl")


register(TransportSpec(("file", "-"), _make, "file:PATH (JSONL) or - (stdout)", _validate))
