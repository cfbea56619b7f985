"""The http(s) transport: the lean client for plain http:// (several times faster), aiohttp for
https:// or `--client aiohttp`; each imported only when chosen (aiohttp costs a tenth of a second).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from evtool.errors import UsageError
from evtool.load.targets.base import Target, TargetOptions, redact_url
from evtool.load.targets.registry import TransportSpec, register


def _make(options: TargetOptions) -> Target:
    if options.client == "lean" or (options.client == "auto" and options.target.startswith("http://")):
        from evtool.load.targets.lean import LeanHttpTarget

        return LeanHttpTarget(options)
    from evtool.load.targets.http import HttpTarget

    return HttpTarget(options)


def _validate(options: TargetOptions) -> None:
    parts = urlsplit(options.target)
    shown = redact_url(options.target)
    if not parts.hostname:
        raise UsageError(f"--target {shown!r}: the URL has no host")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(
            f"--target {shown!r}: the port must be a number from 1 to 65535",
            hint="e.g. http://127.0.0.1:8080/events",
        )
    if parts.username is not None and any(h.name.lower() == "authorization" for h in options.headers):
        raise UsageError(
            f"--target {shown!r}: user info in the URL and -H Authorization both set the credentials",
            hint="give one of them",
        )


register(TransportSpec(("http", "https"), _make, "http(s)://HOST[:PORT]/PATH", _validate))
