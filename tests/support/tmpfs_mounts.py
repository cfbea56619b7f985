"""Directories that fail writes: read-only (a ro tmpfs, else mode 0555) or full (a tiny tmpfs)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def read_only_dir(path: Path) -> Iterator[str]:
    """`path` made unwritable for the block; yields how ("read-only filesystem" or "no permission")."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], check=False, capture_output=True
    ).returncode == 0
    if not mounted:
        path.chmod(0o555)  # root ignores modes: then the mount above is what works
    try:
        yield "read-only filesystem" if mounted else "no permission"
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=False, capture_output=True)
        else:
            path.chmod(0o755)


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of `size` at `path` (needs root): writes fail with ENOSPC once it is full."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
