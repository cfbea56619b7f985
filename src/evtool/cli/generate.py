"""`evtool generate`: synthetic CloudEvents as JSONL or an Avro container file."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer

from evtool.cli.conventions import examples
from evtool.cli.views import announce_seed
from evtool.errors import InputError, UsageError


class EventFormat(StrEnum):
    JSONL = "jsonl"
    AVRO = "avro"
    PROTOBUF = "protobuf"  # length-delimited messages of Protobuf subjects


def register(app: typer.Typer) -> None:
    app.command("generate", epilog=examples(
        "evtool generate --count 5",
        "evtool generate --count 10000 --mix commerce.order.placed=7,support.complaint.filed=1 "
        "--out events.jsonl",
        "evtool generate --flow order-lifecycle --count 50 --seed 42 --validate",
    ))(generate)


def generate(
    count: Annotated[str, typer.Option("--count", "-n", help="How many events.")] = "10",
    mix: Annotated[
        str | None,
        typer.Option(
            "--mix",
            help="Weights of independent event types, e.g. order=70,inventory=20,complaint=10 "
            "(default: every subject of the catalogue, weighted by `weight` in evtool.toml).",
        ),
    ] = None,
    flow: Annotated[
        str | None, typer.Option("--flow", help="A correlated flow instead of a mix: order-lifecycle.")
    ] = None,
    schema_version: Annotated[
        int | None, typer.Option("--schema-version", min=1, help="Write every subject with this version.")
    ] = None,
    schema_versions: Annotated[
        str | None, typer.Option("--schema-versions", help="A mix of versions, e.g. 1:30,2:70.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", min=0, help="Same seed and options: byte-identical output (default: fresh, printed)."
        ),
    ] = None,
    event_format: Annotated[EventFormat, typer.Option("--format", help="Output format.")] = EventFormat.JSONL,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default: stdout).")] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check every event against its schema version.")
    ] = False,
    locale: Annotated[str, typer.Option("--locale", help="Faker locale, e.g. de_DE.")] = "en_US",
    schemas: Annotated[Path | None, typer.Option("--schemas", help="Schema directory.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file.")] = None,
) -> None:
    """Generate realistic business events that conform to the catalogue's schemas."""
    from evtool.catalog import load_catalog
    from evtool.catalog.bundled import resolve_catalogue
    from evtool.config import load_settings
    from evtool.events import (
        EventStream,
        GenerateOptions,
        default_mix,
        fresh_seed,
        parse_count,
        parse_flow,
        parse_mix,
        parse_version_mix,
        write_avro,
        write_jsonl,
    )

    if mix and flow:
        raise UsageError("--mix and --flow exclude each other", hint="a flow decides its own mix")
    if schema_version is not None and schema_versions:
        raise UsageError("--schema-version and --schema-versions exclude each other")
    if event_format in (EventFormat.AVRO, EventFormat.PROTOBUF) and out is None and sys.stdout.isatty():
        raise UsageError(
            f"--format {event_format.value} writes binary", hint="add --out FILE or redirect stdout"
        )
    root, settings = resolve_catalogue(schemas, load_settings(config))
    catalog = load_catalog(root)
    if seed is None:
        seed = fresh_seed()
    options = GenerateOptions(
        mix=parse_mix(mix) if mix else default_mix(catalog, settings),
        count=parse_count(count),
        flow=parse_flow(flow) if flow else None,
        schema_version=schema_version,
        version_mix=parse_version_mix(schema_versions) if schema_versions else None,
        seed=seed,
        locale=locale,
        validate=validate,
    )
    stream = EventStream(catalog, options)  # resolves and compiles: bad input fails here
    announce_seed(seed)
    with _output(out) as handle:
        if event_format is EventFormat.AVRO:
            write_avro(stream, handle, catalog)
        elif event_format is EventFormat.PROTOBUF:
            from evtool.events.delimited import write_delimited

            write_delimited(stream, handle, catalog)
        else:
            write_jsonl(stream, handle)


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    """Stdout, or a temporary file renamed over `path` only when every event was written."""
    if path is None:
        try:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # `evtool generate | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return
    if path.exists() and not path.is_file():
        # /dev/null, a FIFO, a terminal: renaming a temporary file over it would replace the
        # device itself (as root, /dev/null for the whole machine); write into it instead
        try:
            special = path.open("wb")
        except OSError as exc:
            raise InputError(f"{path}: cannot write: {exc.strerror}") from None
        with special:
            yield special
        return
    tmp = path.with_name(f".{path.name}.partial")
    try:
        handle = tmp.open("wb")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
