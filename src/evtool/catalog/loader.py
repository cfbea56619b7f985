"""Find and load `schemas/<subject>/<version>.<ext>` from a folder or from a git ref."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat, Subject
from evtool.catalog.source import parse_json_text
from evtool.errors import InputError, SchemaError

_Shown = Callable[[str, str], Path]  # (subject, file name) -> the path users are shown

_SUFFIXES: tuple[tuple[str, SchemaFormat], ...] = (
    (".schema.json", SchemaFormat.JSON),
    (".json", SchemaFormat.JSON),
    (".avsc", SchemaFormat.AVRO),
)


def format_of(name: str) -> tuple[str, SchemaFormat] | None:
    """(stem, format) of a schema file name, or None for a file that is not a schema."""
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], fmt
    return None


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
            hint="use .avsc for Avro, .json or .schema.json for JSON Schema",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    shown = display_path(path)
    return SchemaFile(
        subject=subject or path.parent.name,
        version=version,
        format=found[1],
        path=shown,
        text=text,
        document=parse_json_text(text, source=str(shown)),
    )


def load_catalog(root: Path) -> Catalog:
    """Every subject under `root`; raises SchemaError for the first file that breaks the layout."""
    if not root.is_dir():
        raise InputError(
            f"{root}: schema directory not found",
            hint="pass --schemas DIR or set schema_dir in evtool.toml",
        )
    files: dict[str, dict[str, str]] = {}
    for subject_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        entries: dict[str, str] = {}
        for file in sorted(subject_dir.iterdir()):
            if file.is_file() and not file.name.startswith("."):
                try:
                    entries[file.name] = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise InputError(f"{display_path(file)}: cannot read: {exc}") from None
        files[subject_dir.name] = entries
    shown_root = display_path(root)
    return _build(root, files, lambda subject, name: shown_root / subject / name)


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
    blobs = _cat_files(top, ref, [str(p) for p in paths])
    files: dict[str, dict[str, str]] = {}
    for path in paths:
        relative = path.relative_to(prefix)
        if len(relative.parts) != 2 or relative.name.startswith("."):
            continue
        files.setdefault(relative.parts[0], {})[relative.name] = blobs[str(path)]
    return _build(root, files, lambda subject, name: Path(f"{ref}:{prefix / subject / name}"))


def _build(root: Path, files: dict[str, dict[str, str]], shown: _Shown) -> Catalog:
    subjects: dict[str, Subject] = {}
    for subject in sorted(files):
        versions: list[SchemaFile] = []
        for name, text in files[subject].items():
            path = shown(subject, name)
            found = format_of(name)
            if found is None:
                raise SchemaError(
                    f"{path}: not a schema file",
                    hint="name versions <n>.avsc (Avro) or <n>.json (JSON Schema), or move it out",
                )
            stem, fmt = found
            if not stem.isdigit() or int(stem) < 1:
                raise SchemaError(
                    f"{path}: version file must be named by a positive integer, like 1{name[len(stem):]}",
                    hint="rename it to the version number it holds",
                )
            document = parse_json_text(text, source=str(path))
            versions.append(SchemaFile(subject, int(stem), fmt, path, text, document))
        if not versions:
            continue
        versions.sort(key=lambda s: s.version)
        _reject_duplicates_and_mixed(subject, versions)
        subjects[subject] = Subject(subject, versions[0].format, tuple(versions))
    return Catalog(root=root, subjects=subjects)


def _reject_duplicates_and_mixed(subject: str, versions: Iterable[SchemaFile]) -> None:
    seen: dict[int, SchemaFile] = {}
    formats: dict[SchemaFormat, SchemaFile] = {}
    for schema in versions:
        if schema.version in seen:
            raise SchemaError(
                f"{schema.path}: version {schema.version} of {subject!r} also in {seen[schema.version].path}",
                hint="keep one file per version",
            )
        seen[schema.version] = schema
        formats.setdefault(schema.format, schema)
    if len(formats) > 1:
        avro, json_file = formats[SchemaFormat.AVRO], formats[SchemaFormat.JSON]
        raise SchemaError(
            f"{json_file.path}: subject {subject!r} mixes JSON Schema with Avro ({avro.path})",
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


def _cat_files(top: str, ref: str, paths: list[str]) -> dict[str, str]:
    if not paths:
        return {}
    request = "".join(f"{ref}:{p}\n" for p in paths).encode()
    done = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=top, input=request, capture_output=True, check=True
    )
    out = done.stdout
    blobs: dict[str, str] = {}
    pos = 0
    for path in paths:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        start = header_end + 1
        blobs[path] = out[start : start + size].decode("utf-8", errors="replace")
        pos = start + size + 1
    return blobs
