"""Places where writes fail, for what evtool must say (one line, exit 2) or mark (INCOMPLETE).

- `unwritable_dir`: refuses new files: a read-only tmpfs when the tests may mount one (root), else
  a directory without write permission (unwritable for anyone but root);
- `read_only_filesystem`: a directory on a read-only filesystem, root or not;
- `tiny_tmpfs`: a tmpfs of a few KiB (root): writes fail with ENOSPC once it is full;
- `file_size_limit`: a full disk without root or a mount: RLIMIT_FSIZE in a child process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path


def _mount_tmpfs(path: Path, options: str) -> bool:
    """Mount a tmpfs at `path` when this may (root); whether it did."""
    return os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=False, capture_output=True
    ).returncode == 0


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@contextlib.contextmanager
def unwritable_dir(path: Path) -> Iterator[Path]:
    """`path` (created if missing) refuses new files for the block: EROFS, else EACCES."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _mount_tmpfs(path, "ro,size=64k")
    if not mounted:
        path.chmod(0o555)  # root ignores modes: then the mount above is what works
    try:
        yield path
    finally:
        if mounted:
            _unmount(path)
        else:
            path.chmod(0o755)


@contextlib.contextmanager
def read_only_filesystem(path: Path) -> Iterator[Path]:
    """An existing directory on a read-only filesystem: a read-only tmpfs at `path` when this may
    mount (root), else procfs's /proc/self/fdinfo (no file can be created there by anyone)."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount_tmpfs(path, "ro,size=64k"):
        yield Path("/proc/self/fdinfo")
        return
    try:
        yield path
    finally:
        _unmount(path)


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str = "64k", *, required: bool = True) -> Iterator[bool]:
    """A tmpfs of `size` at `path` (root): writes fail with ENOSPC once it is full. Yields whether
    it is mounted; where this may not mount, `required=False` yields False (a plain directory)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = _mount_tmpfs(path, f"size={size}")
    if not mounted and required:
        raise RuntimeError(f"cannot mount a {size} tmpfs at {path} (needs root)")
    try:
        yield mounted
    finally:
        if mounted:
            _unmount(path)


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A preexec_fn: RLIMIT_FSIZE at `limit_bytes`, SIGXFSZ ignored, so a write past it fails with EFBIG
    (a full disk without root or a mount)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply
