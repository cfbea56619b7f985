"""`.proto` text to descriptors with protoc itself (grpcio-tools bundles it, in-process).

A real compiler, not a regex: imports, nested types, map entries, proto2/proto3 and the
well-known types (`google/protobuf/*.proto`, shipped with grpcio-tools) resolve exactly as they
do for the teams' own builds. protoc reads files from disk, so the catalogue's texts (possibly
from a git ref) are written to a private temporary folder named as the catalogue names them
(`<subject>/<version>.proto`, which is also how one schema imports another).

One protoc run costs about a millisecond, so a catalogue is compiled in batches: every file of
one version number at once (different subjects rarely define the same names). A batch protoc
refuses (two files defining one name, or a bad file) falls back to one run per file, which also
gives a bad file its own error message.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2

from evtool.errors import SchemaError
from evtool.formats.base import Peers

_IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)
_WELL_KNOWN = "google/protobuf/"
_CACHE_KEY = "protobuf.compiled"


def include_dir() -> str:
    return str(importlib.resources.files("grpc_tools") / "_proto")


def imports_of(text: str) -> list[str]:
    return _IMPORT.findall(text)


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """protoc (C++) writes its diagnostics to file descriptor 2: catch them for the error line."""
    lines: list[str] = []
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _closure(names: Iterable[str], peers: Peers) -> dict[str, str]:
    """The texts of `names` and of everything they import (well-known types come from protoc)."""
    found: dict[str, str] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found or name.startswith(_WELL_KNOWN):
            continue
        text = peers.text(name)
        if text is None:
            continue  # protoc names the missing import, with the line that asks for it
        found[name] = text
        todo.extend(imports_of(text))
    return found


_Outcome = tuple[descriptor_pb2.FileDescriptorSet | None, list[str]]  # descriptors, or protoc's errors


def _run(names: list[str], texts: dict[str, str]) -> _Outcome:
    with tempfile.TemporaryDirectory(prefix="evtool-proto-") as tmp:
        root = Path(tmp)
        _write(root, texts)
        return _protoc(root, names)


def _write(root: Path, texts: dict[str, str]) -> None:
    for name, text in texts.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _protoc(root: Path, names: list[str]) -> _Outcome:
    with tempfile.TemporaryDirectory(prefix="evtool-protoc-") as tmp:
        return _protoc_into(Path(tmp) / "out.pb", root, names)


def _protoc_into(out: Path, root: Path, names: list[str]) -> _Outcome:
    from grpc_tools import protoc

    args = ["protoc", f"-I{root}", f"-I{include_dir()}", f"--descriptor_set_out={out}", "--include_imports"]
    with _stderr_captured() as errors:
        code = protoc.main([*args, *names])
    if code != 0 or not out.exists():
        return None, [line.replace(f"{root}/", "") for line in errors]
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()), []


def _index(fds: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    return {f.name: f for f in fds.file}


def closure_files(
    name: str, index: dict[str, descriptor_pb2.FileDescriptorProto]
) -> list[descriptor_pb2.FileDescriptorProto]:
    """`name` and its dependencies, dependencies first (the order a descriptor pool wants)."""
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    seen: set[str] = set()

    def visit(file_name: str) -> None:
        if file_name in seen:
            return
        seen.add(file_name)
        proto = index[file_name]
        for dep in proto.dependency:
            visit(dep)
        ordered.append(proto)

    visit(name)
    return ordered


Compiled = list[descriptor_pb2.FileDescriptorProto]  # the file last, its dependencies before it


def compile_file(name: str, text: str, peers: Peers, *, source: str) -> Compiled:
    """The descriptors of one file (catalogue name `name`), compiling its catalogue on first use."""
    cache = peers.cache.get(_CACHE_KEY)
    if not isinstance(cache, dict):
        cache = peers.cache[_CACHE_KEY] = _compile_catalogue(peers)
    hit = cache.get(name)
    if isinstance(hit, list) and hit and peers.texts.get(name) == text:
        return hit
    texts = _closure(imports_of(text), peers)
    texts[name] = text
    fds, errors = _run([name], texts)
    if fds is None:
        raise _error(errors, name, source)
    return closure_files(name, _index(fds))


def _compile_catalogue(peers: Peers) -> dict[str, Compiled]:
    """Every .proto file of the catalogue, a batch per version number."""
    batches: dict[str, list[str]] = {}
    for name in peers.texts:
        if name.endswith(".proto"):
            batches.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    compiled: dict[str, Compiled] = {}
    if not batches:
        return compiled
    names = [n for batch in batches.values() for n in batch]
    if peers.root is not None:  # the catalogue is on disk as protoc would read it: no copies
        return _compile_batches(peers.root, batches, compiled)
    with tempfile.TemporaryDirectory(prefix="evtool-proto-") as tmp:
        root = Path(tmp)  # every file written once (a git ref's texts), then one protoc run per batch
        _write(root, _closure(names, peers))
        return _compile_batches(root, batches, compiled)


def _compile_batches(
    root: Path, batches: dict[str, list[str]], compiled: dict[str, Compiled]
) -> dict[str, Compiled]:
    for names in batches.values():
        fds, _ = _protoc(root, sorted(names))
        if fds is None:
            continue  # one run per file then, on demand: it names the bad file alone
        index = _index(fds)
        for name in names:
            compiled[name] = closure_files(name, index)
    return compiled


_LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")


def _error(errors: list[str], name: str, source: str) -> SchemaError:
    """protoc's first diagnostic, placed in the file users know (`schemas/a.b/2.proto:7:3`)."""
    for line in errors:
        match = _LOCATED.match(line)
        if match is None:
            continue
        where = source if match["file"] == name else match["file"]
        return SchemaError(
            f"{where}:{match['line']}:{match['col']}: invalid Protobuf: {match['msg']}",
            hint="fix the .proto at that line (imports name catalogue files as <subject>/<version>.proto)",
        )
    detail = next((line for line in errors if line.strip()), "protoc refused the file")
    if detail.startswith(f"{name}: "):
        detail = detail[len(name) + 2 :]
    return SchemaError(
        f"{source}: invalid Protobuf: {detail}",
        hint="imports name catalogue files as <subject>/<version>.proto or google/protobuf/*.proto",
    )
