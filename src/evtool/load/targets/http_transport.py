"""The http(s) transport: the lean client for plain http:// (several times faster), aiohttp for
https:// or `--client aiohttp`; each imported only when chosen (aiohttp costs a tenth of a second).
"""

from __future__ import annotations

from evtool.load.targets.base import Target, TargetOptions
from evtool.load.targets.registry import TransportSpec, register


def _make(options: TargetOptions) -> Target:
    if options.client == "lean" or (options.client == "auto" and options.target.startswith("http://")):
        from evtool.load.targets.lean import LeanHttpTarget

        return LeanHttpTarget(options)
    from evtool.load.targets.http import HttpTarget

    return HttpTarget(options)


register(TransportSpec(("http", "https"), _make, "http(s)://HOST[:PORT]/PATH"))
