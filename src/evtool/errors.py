"""Error types that carry the exit code the CLI must end with.

The core raises these; only the CLI turns them into a message and an exit status, so a
library user gets an exception and a terminal user gets one clear line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # the check ran and found a problem (incompatible schema, SLO missed)
    USAGE = 2  # the user's input is wrong
    INTERRUPTED = 130


class EvtoolError(Exception):
    """Base of every error evtool reports to its user."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(EvtoolError):
    """An option or argument that cannot be used as given."""


class ConfigError(EvtoolError):
    """evtool.toml / [tool.evtool] holds a key or value evtool cannot use."""


class SchemaError(EvtoolError):
    """A schema file that cannot be read, parsed or understood (file and place in the message).

    ``pointer`` (RFC 6901, into the schema document) lets the catalogue, which holds the
    file's text, add the line number the engine cannot know.
    """

    def __init__(self, message: str, *, hint: str | None = None, pointer: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.pointer = pointer


class InputError(EvtoolError):
    """Any other input that is unreadable: an event log, a run directory, a git ref."""


class TargetError(EvtoolError):
    """A target that cannot be reached or used at all (unreachable before the run started)."""


class LogWriteError(EvtoolError):
    """The run log could not be written (disk full, file size limit): the run stops at once."""

    def __init__(self, message: str, *, hint: str | None = None, strerror: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.strerror = strerror  # the OS error's text ("No space left on device"), for counting by kind
