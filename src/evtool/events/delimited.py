"""`generate --format protobuf`: the events' data as length-delimited Protobuf messages.

Each record is a base-128 varint length and the message bytes (what Java's `writeDelimitedTo` and
`protoc --decode` with delimited input read), encoded with the message class of the exact
version each event names in `dataschema`. Only Protobuf subjects can be written this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO

from evtool.catalog.model import Catalog, SchemaFormat
from evtool.errors import UsageError
from evtool.events.envelope import CloudEvent
from evtool.formats.protobuf.varint import varint


def write_delimited(events: Iterable[CloudEvent], out: IO[bytes], catalog: Catalog) -> int:
    encoders: dict[tuple[str, int], Callable[[object], bytes]] = {}
    written = 0
    for event in events:
        ref = event.schema_ref
        if ref is None:
            raise UsageError(f"event {event.id}: dataschema names no catalogue version")
        encode = encoders.get(ref)
        if encode is None:
            schema = catalog.subject(ref[0]).version(ref[1])
            found = schema.handler.encoder(schema) if schema.format is SchemaFormat.PROTOBUF else None
            if found is None:
                raise UsageError(
                    f"--format protobuf writes Protobuf subjects only; {ref[0]} is {schema.handler.label}",
                    hint="pick Protobuf subjects with --mix, or use --format jsonl",
                )
            encode = encoders[ref] = found
        data = encode(event.data)
        out.write(varint(len(data)) + data)
        written += 1
    return written
