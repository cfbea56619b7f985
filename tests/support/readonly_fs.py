"""A place no file can be written to: a read-only tmpfs when the tests may mount one (root),
else a directory without write permission (which is unwritable for anyone but root)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def unwritable_dir(base: Path) -> Iterator[Path]:
    """A directory under `base` that refuses new files (EROFS on a read-only tmpfs, else EACCES)."""
    where = base / "readonly"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(where)], capture_output=True, check=False
    ).returncode == 0
    if not mounted:
        where.chmod(0o555)
    try:
        yield where
    finally:
        if mounted:
            subprocess.run(["umount", str(where)], capture_output=True, check=False)
        else:
            where.chmod(0o755)
