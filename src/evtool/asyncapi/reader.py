"""An AsyncAPI 3 document read as a catalogue: every message with a payload is a subject.

The subject is the message's key under `components.messages` (or the channel's message key);
its one version is the payload, inline or `$ref` to a file beside the document. Reading the same
document at a git ref gives the published side, so `schema check --asyncapi FILE --against main`
compares two documents with the schema-aware engine, payload by payload, where a text diff of the
document would only say "changed".
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from evtool.asyncapi.formats import format_of_media_type
from evtool.catalog.model import Catalog, SchemaFile, SchemaFormat, Subject
from evtool.errors import InputError, SchemaError
from evtool.formats import format_named

Reader = Callable[[PurePosixPath], str]  # a file beside the document, by its path relative to the repo


def load_asyncapi(path: Path) -> Catalog:
    """The document on disk (files it `$ref`s read from disk too)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the AsyncAPI document: {exc.strerror}") from None
    base = path.parent

    def read(relative: PurePosixPath) -> str:
        target = base / relative
        try:
            return target.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"{target}: cannot read a file the AsyncAPI document refers to: {exc.strerror}"
            ) from None

    return parse_asyncapi(text, shown=path, read=read, shown_base=base)


def load_asyncapi_at_ref(path: Path, ref: str) -> Catalog:
    """The document as it is at git `ref`, with the files it refers to at that ref too."""
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd=path.parent).strip())
    relative = PurePosixPath(path.resolve().relative_to(top.resolve()).as_posix())

    def show(file: PurePosixPath) -> str:
        return _git(["show", f"{ref}:{file}"], cwd=top)

    try:
        text = show(relative)
    except InputError:
        raise InputError(
            f"{path} does not exist at git ref {ref!r}",
            hint="fetch the ref first, or check the path of the document",
        ) from None
    return parse_asyncapi(
        text,
        shown=Path(f"{ref}:{relative}"),
        read=lambda file: show(PurePosixPath(*_normalized(relative.parent / file).parts)),
        shown_base=Path(f"{ref}:{relative.parent}"),
    )


def parse_asyncapi(text: str, *, shown: Path, read: Reader, shown_base: Path) -> Catalog:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else str(shown)
        raise SchemaError(f"{where}: not valid YAML/JSON: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith("3."):
        raise SchemaError(
            f"{shown}: not an AsyncAPI 3 document (no `asyncapi: 3.x.x` at the top)",
            hint="evtool reads AsyncAPI 3.0; convert 2.x documents with `asyncapi convert`",
        )
    subjects: dict[str, Subject] = {}
    for name, pointer, message in _messages(document):
        payload = message.get("payload")
        if payload is None:
            continue
        schema_file = _payload_file(
            name, pointer, payload, document, shown=shown, read=read, shown_base=shown_base
        )
        subjects[name] = Subject(name, schema_file.format, (schema_file,))
    return Catalog(root=Path(shown).parent, subjects=dict(sorted(subjects.items())))


def _messages(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    seen: set[str] = set()
    components = (document.get("components") or {}).get("messages") or {}
    for name, message in components.items():
        resolved = _local(document, message)
        if isinstance(resolved, dict):
            seen.add(name)
            yield str(name), f"/components/messages/{name}", resolved
    for channel_name, channel in (document.get("channels") or {}).items():
        for name, message in ((channel or {}).get("messages") or {}).items():
            if isinstance(message, dict) and "$ref" in message:
                continue  # a reference to components.messages, read above
            if name not in seen and isinstance(message, dict):
                seen.add(name)
                yield str(name), f"/channels/{channel_name}/messages/{name}", message


def _payload_file(
    subject: str,
    pointer: str,
    payload: Any,
    document: dict[str, Any],
    *,
    shown: Path,
    read: Reader,
    shown_base: Path,
) -> SchemaFile:
    schema_format_name: str | None = None
    schema = payload
    if isinstance(payload, dict) and "schemaFormat" in payload:
        schema_format_name = str(payload["schemaFormat"])
        schema = payload.get("schema")
    fmt = format_of_media_type(schema_format_name) if schema_format_name else SchemaFormat.JSON
    if fmt is None:
        raise SchemaError(
            f"{shown}: message {subject!r}: schemaFormat {schema_format_name!r} is not one evtool reads",
            hint="use Avro (application/vnd.apache.avro) or JSON Schema (application/schema+json)",
        )
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref.startswith("#"):
            resolved = _local(document, schema)
            text = json.dumps(resolved, indent=2, ensure_ascii=False)
            return SchemaFile(subject, 1, fmt, Path(f"{shown}{ref}"), text, resolved)
        file_part, _, fragment = ref.partition("#")
        relative = PurePosixPath(file_part)
        text = read(relative)
        parsed = _parse_referenced(text, file=shown_base / relative, fmt=fmt)
        if fragment:
            parsed = _follow(parsed, fragment, where=f"{shown_base / relative}#{fragment}")
            text = json.dumps(parsed, indent=2, ensure_ascii=False)
        return SchemaFile(subject, 1, fmt, shown_base / relative, text, parsed)
    inline = f"{pointer}/payload" + ("/schema" if schema_format_name else "")
    if isinstance(schema, str):  # a schema in its own text form (a .proto file inline)
        loaded = format_named(fmt).load(schema, source=f"{shown}#{inline}")
        return SchemaFile(subject, 1, fmt, Path(f"{shown}#{inline}"), schema, loaded)
    text = json.dumps(schema, indent=2, ensure_ascii=False)
    return SchemaFile(subject, 1, fmt, Path(f"{shown}#{inline}"), text, schema)


def _parse_referenced(text: str, *, file: Path, fmt: SchemaFormat) -> Any:
    """A referenced schema file as its format loads it (YAML is allowed for JSON Schema, as in AsyncAPI)."""
    try:
        if file.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return format_named(fmt).load(text, source=str(file))
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SchemaError(
            f"{file}: the schema the AsyncAPI document refers to does not parse: {exc}"
        ) from None


def _local(document: dict[str, Any], node: Any) -> Any:
    """Follows `#/...` references inside the document (chains too, a bounded number of hops)."""
    for _ in range(32):
        if not (
            isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#")
        ):
            return node
        node = _follow(document, node["$ref"][1:], where=node["$ref"])
    raise SchemaError(f"reference chain too long at {node.get('$ref')}")


def _follow(node: Any, pointer: str, *, where: str) -> Any:
    for token in [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaError(f"reference {where} points at nothing")
    return node


def _normalized(path: PurePosixPath) -> PurePosixPath:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def _git(args: list[str], *, cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise InputError(f"cannot run git: {exc.strerror}") from None
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def versioned_against(current: Catalog, published: Catalog) -> tuple[Catalog, Catalog]:
    """Two documents as one history: each published payload is version 1 of its message and a
    changed payload version 2, so the check judges exactly what the edit changed."""
    subjects: dict[str, Subject] = {}
    for name, subject in current.subjects.items():
        before = published.subjects.get(name)
        now = subject.latest
        if before is None or before.latest.document == now.document:
            subjects[name] = before if before is not None else subject
            continue
        changed = SchemaFile(name, 2, now.format, now.path, now.text, now.document)
        subjects[name] = Subject(name, now.format, (before.latest, changed))
    return Catalog(root=current.root, subjects=subjects), published
