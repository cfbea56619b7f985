"""Find and load `schemas/<subject>/<version>.<ext>` from a folder or from a git ref.

The layout rule, the same on disk and at a git ref: a subject is a folder directly under the
schema directory; its versions are the files named `<positive integer><schema suffix>`. Other
files and hidden entries are ignored (READMEs, archives, editor files), except a name that
starts like a version (`4.yaml`, `4.avro`): that is a version gone missing, so it is an error.
A schema file is read only when it is a regular file of at most `MAX_SCHEMA_BYTES`, so a FIFO
or a device cannot hang or flood a check.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path, PurePosixPath

from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat, Subject
from evtool.errors import InputError, SchemaError
from evtool.formats import format_of, suffix_help
from evtool.formats.base import Peers
from evtool.gc_pause import gc_paused

_Read = Callable[[], str]  # reads a version file's text when the layout says it is one
_Entry = tuple[Path, _Read]  # (the path users are shown, its reader)

MAX_SCHEMA_BYTES = 16 * 1024 * 1024

def layout_hint(root: Path | str) -> str:
    return (
        f"expected {root}/<subject>/<version>{suffix_help()}, "
        f"e.g. {root}/orders.placed/1.avsc; other files are ignored"
    )


def display_path(path: Path) -> Path:
    """Relative to the working directory when below it: shorter, and what CI annotations want."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def read_schema_file(path: Path, *, subject: str | None = None, version: int = 0) -> SchemaFile:
    """Load one schema file on its own (for `schema diff`), format from its name."""
    found = format_of(path.name)
    if found is None:
        raise SchemaError(
            f"{path}: not a schema file name",
            hint=f"use {suffix_help()}",
        )
    shown = display_path(path)
    text = read_text_file(path, shown=shown)
    fmt = found[1]
    return SchemaFile(
        subject=subject or path.parent.name,
        version=version,
        format=SchemaFormat(fmt.name),
        path=shown,
        text=text,
        document=fmt.load(text, source=str(shown)),
        peers=_disk_peers(path),
    )


def _disk_peers(path: Path) -> Peers:
    """For a file read on its own: files of the catalogue it sits in (its folder's parent) may be
    imported, read only when named."""
    return Peers({}, root=path.resolve().parent.parent)


def read_text_file(path: Path, *, shown: Path | str, limit: int | None = None) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes (default `MAX_SCHEMA_BYTES`).

    Opened non-blocking and checked with fstat on the open descriptor, so a FIFO is refused
    without waiting for a writer, and a file swapped for one after a stat cannot slip through.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(
            f"{shown}: cannot read: {exc.strerror}", hint="make it readable or move it out"
        ) from None
    limit = MAX_SCHEMA_BYTES if limit is None else limit
    try:
        status = os.fstat(fd)
        mode = status.st_mode
        if not stat.S_ISREG(mode):
            raise SchemaError(
                f"{shown}: not a regular file ({_kind(mode)})",
                hint="a schema must be a plain file; copy its content into one",
            )
        chunks: list[bytes] = []
        size = 0
        step = max(status.st_size + 1, 64 * 1024)  # one read for nearly every file
        while size <= limit:  # a file that grows while read stops at the cap
            chunk = os.read(fd, min(step, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise SchemaError(
            f"{shown}: larger than {limit // (1024 * 1024)} MiB, too large for a schema",
            hint="is this really a schema file? move it out of the schema directory",
        )
    return decode_text(data, shown=shown)


def decode_text(data: bytes, *, shown: Path | str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SchemaError(
            f"{shown}:{line}:{column}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def _listing(directory: Path, shown: Path) -> Iterator[Path]:
    """The visible entries of `directory`, sorted; a folder that cannot be listed is named."""
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise InputError(
            f"{shown}: cannot list the directory: {exc.strerror}",
            hint="make it readable (chmod u+rx) or move it out of the schema directory",
        ) from None
    return (entry for entry in entries if not entry.name.startswith("."))


def load_catalog(root: Path) -> Catalog:
    """Every subject under `root`; raises SchemaError for the first file that breaks the layout,
    InputError when there is no subject at all (a gate that checks nothing must not pass)."""
    if not root.is_dir():
        raise InputError(
            f"{root}: schema directory not found",
            hint="pass --schemas DIR or set schema_dir in evtool.toml",
        )
    shown_root = display_path(root)
    files: dict[str, dict[str, _Entry]] = {}
    for subject_dir in _listing(root, shown_root):
        if not subject_dir.is_dir():
            continue
        shown_dir = shown_root / subject_dir.name
        entries: dict[str, _Entry] = {}
        for file in _listing(subject_dir, shown_dir):
            shown = shown_dir / file.name
            entries[file.name] = (shown, partial(read_text_file, file, shown=shown))
        files[subject_dir.name] = entries
    catalog = _build(root, files, on_disk=True)
    if not catalog.subjects:
        raise InputError(f"no subjects found under {shown_root}", hint=layout_hint(shown_root))
    return catalog


def load_catalog_at_ref(root: Path, ref: str) -> Catalog:
    """The catalogue as it is at git `ref` (any commit-ish), read with `git cat-file`."""
    top = _git(["rev-parse", "--show-toplevel"], cwd=root).strip()
    prefix = PurePosixPath(os.path.relpath(root.resolve(), Path(top).resolve()))
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root)
    except InputError:
        raise InputError(
            f"git ref {ref!r} not found",
            hint="fetch it first (e.g. git fetch origin main) or name an existing branch/commit",
        ) from None
    listing = _git(["ls-tree", "-r", "--name-only", ref, "--", f"{prefix}/"], cwd=top)
    paths = [PurePosixPath(line) for line in listing.splitlines() if line]
    wanted = [
        p
        for p in paths
        if len(rel := p.relative_to(prefix).parts) == 2
        and not rel[0].startswith(".")
        and not rel[1].startswith(".")
        and (format_of(rel[1]) is not None or _looks_like_version(rel[1]))
    ]
    blobs = _cat_files(top, ref, [str(p) for p in wanted])
    files: dict[str, dict[str, _Entry]] = {}
    for path in wanted:
        subject, name = path.relative_to(prefix).parts
        shown = Path(f"{ref}:{path}")
        files.setdefault(subject, {})[name] = (shown, partial(decode_text, blobs[str(path)], shown=shown))
    return _build(root, files)


def _looks_like_version(name: str) -> bool:
    """`4.yaml`, `4.avro`, `4`: meant as a version, yet not a schema file name."""
    head = name.split(".", 1)[0]
    return head.isdigit()


def _build(root: Path, files: dict[str, dict[str, _Entry]], *, on_disk: bool = False) -> Catalog:
    with gc_paused():  # thousands of parsed documents, all kept: nothing for it to find
        return _build_paused(root, files, on_disk=on_disk)


def _build_paused(root: Path, files: dict[str, dict[str, _Entry]], *, on_disk: bool) -> Catalog:
    subjects: dict[str, Subject] = {}
    texts: dict[str, str] = {}
    # filled as files are read; parsing (which resolves imports) comes later. On disk, a format
    # may read the files where they are (protoc does) instead of copying the texts.
    peers = Peers(texts, root=root if on_disk else None)
    for subject in sorted(files):
        versions: list[SchemaFile] = []
        for name, (path, read) in files[subject].items():
            found = format_of(name)
            if found is None:
                if _looks_like_version(name):
                    raise SchemaError(
                        f"{path}: looks like a version file but is not named like a schema",
                        hint=f"name versions <n><suffix> with suffix {suffix_help()}, "
                        "or rename it so it does not start with a number",
                    )
                continue  # not a schema: READMEs, archives and the like are ignored
            stem, fmt = found
            text = read()
            if not stem.isdigit() or int(stem) < 1:
                raise SchemaError(
                    f"{path}: version file must be named by a positive integer, like 1{name[len(stem):]}",
                    hint="rename it to the version number it holds",
                )
            texts[f"{subject}/{name}"] = text
            document = fmt.load(text, source=str(path))
            number, kind = int(stem), SchemaFormat(fmt.name)
            versions.append(SchemaFile(subject, number, kind, path, text, document, peers))
        if not versions:
            continue
        versions.sort(key=lambda s: s.version)
        _reject_duplicates_and_mixed(subject, versions)
        subjects[subject] = Subject(subject, versions[0].format, tuple(versions))
    return Catalog(root=root, subjects=subjects)


def _reject_duplicates_and_mixed(subject: str, versions: Iterable[SchemaFile]) -> None:
    seen: dict[int, SchemaFile] = {}
    formats: dict[str, SchemaFile] = {}
    for schema in versions:
        if schema.version in seen:
            raise SchemaError(
                f"{schema.path}: version {schema.version} of {subject!r} also in {seen[schema.version].path}",
                hint="keep one file per version",
            )
        seen[schema.version] = schema
        formats.setdefault(schema.format, schema)
    if len(formats) > 1:
        first, second, *_ = formats.values()
        raise SchemaError(
            f"{second.path}: subject {subject!r} mixes {second.handler.label} with "
            f"{first.handler.label} ({first.path})",
            hint="a subject has one format; move the other files to a subject of their own",
        )


def _git(args: list[str], *, cwd: Path | str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise InputError("git is not installed", hint="install git to use --against") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "git failed"
        raise InputError(f"git {args[0]}: {message}", hint="run inside a git repository")
    return done.stdout


def _cat_files(top: str, ref: str, paths: list[str]) -> dict[str, bytes]:
    if not paths:
        return {}
    request = "".join(f"{ref}:{p}\n" for p in paths).encode()
    done = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=top, input=request, capture_output=True, check=False
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines() or ["git failed"]
        raise InputError(f"git cat-file at {ref}: {message[-1]}")
    out = done.stdout
    blobs: dict[str, bytes] = {}
    pos = 0
    for path in paths:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        start = header_end + 1
        blobs[path] = out[start : start + size]
        pos = start + size + 1
    return blobs
