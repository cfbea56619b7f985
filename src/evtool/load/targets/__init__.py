"""Where events go: one transport per URL scheme (`registry`), each a module of this package.

`make_target` imports only the transport a run uses (aiohttp costs a tenth of a second to
import, librdkafka more, and a file dry run needs neither).
"""

from __future__ import annotations

from evtool.load.targets.base import Target, TargetOptions
from evtool.load.targets.registry import make_target, opened, register, validate_target

__all__ = ["Target", "TargetOptions", "make_target", "opened", "register", "validate_target"]
