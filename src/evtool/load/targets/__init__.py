"""Where events go: HTTP (a lean client for http://, aiohttp for https://), a file, or stdout.

`make_target` chooses by the target's form and imports only the module it needs (aiohttp
costs a tenth of a second to import, and a file dry run needs none of it).
"""

from __future__ import annotations

from evtool.load.targets.base import Target, TargetOptions, target_kind


def make_target(options: TargetOptions) -> Target:
    """The target for `options.target`; imports only the module that is needed."""
    kind = target_kind(options.target)
    if kind == "http":
        if options.client == "lean" or (options.client == "auto" and options.target.startswith("http://")):
            from evtool.load.targets.lean import LeanHttpTarget

            return LeanHttpTarget(options)
        from evtool.load.targets.http import HttpTarget

        return HttpTarget(options)
    from evtool.load.targets.file import FileTarget

    return FileTarget(None if kind == "stdout" else options.target[5:])
