"""Synthetic business events: CloudEvents envelope, domain and schema-driven generators, flows, codecs.

The CLI (`generate`), `simulate` and `demo` use `EventStream` / `generate_events` with a
`GenerateOptions`; replay and the collector use the envelope parsers and `iter_events`.
"""

from evtool.events.codecs import iter_events, read_avro, read_jsonl, write_avro, write_jsonl
from evtool.events.envelope import CloudEvent, dataschema_uri, decode_batch, encode_batch, parse_dataschema
from evtool.events.flows import FlowSpec, parse_flow
from evtool.events.source import (
    EventStream,
    GenerateOptions,
    MixEntry,
    default_mix,
    fresh_seed,
    generate_events,
    parse_count,
    parse_mix,
    parse_version_mix,
    resolve_subject,
)
from evtool.events.validate import EventValidator, InvalidEventError

__all__ = [
    "CloudEvent",
    "EventStream",
    "EventValidator",
    "FlowSpec",
    "GenerateOptions",
    "InvalidEventError",
    "MixEntry",
    "dataschema_uri",
    "decode_batch",
    "default_mix",
    "encode_batch",
    "fresh_seed",
    "generate_events",
    "iter_events",
    "parse_count",
    "parse_dataschema",
    "parse_flow",
    "parse_mix",
    "parse_version_mix",
    "read_avro",
    "read_jsonl",
    "resolve_subject",
    "write_avro",
    "write_jsonl",
]
