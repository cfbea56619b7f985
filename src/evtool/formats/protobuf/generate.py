"""Schema-driven generation for Protobuf: values as the proto3 JSON mapping's Python form (field
names as written, enums by constant name, bytes base64, well-known Timestamp as RFC 3339), so
an event's data is JSON and `json_format.ParseDict` turns it into the message for binary output.
Field names pick pool values as for the other formats (`email`, `*_id`, `*amount*` …).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from evtool.formats.generation import INT32, OPTIONAL_SHARE, SOFT_DEPTH, DataGenerator, Gen, bounded_repeat
from evtool.values.context import GenContext
from evtool.values.hints import number_hint, string_hint

_Value = Callable[[GenContext, int], Any]
_INTS = {
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
}
_WELL_KNOWN: dict[str, _Value] = {
    "google.protobuf.Timestamp": lambda ctx, depth: ctx.now_rfc3339(),
    "google.protobuf.Duration": lambda ctx, depth: f"{ctx.rng.randint(1, 3600)}s",
    "google.protobuf.StringValue": lambda ctx, depth: ctx.rng.choice(ctx.pools.words),
    "google.protobuf.Int64Value": lambda ctx, depth: str(ctx.rng.randint(0, 10_000)),
    "google.protobuf.Int32Value": lambda ctx, depth: ctx.rng.randint(0, 10_000),
    "google.protobuf.BoolValue": lambda ctx, depth: ctx.rng.random() < 0.5,
    "google.protobuf.DoubleValue": lambda ctx, depth: round(ctx.rng.uniform(0, 1000), 2),
    "google.protobuf.Struct": lambda ctx, depth: {"note": ctx.rng.choice(ctx.pools.words)},
    "google.protobuf.Empty": lambda ctx, depth: {},
}


def compile_message(descriptor: Descriptor) -> DataGenerator:
    compiled: dict[str, Gen] = {}
    gen = _message(descriptor, compiled)
    return lambda ctx: gen(ctx, 0)


def _message(descriptor: Descriptor, compiled: dict[str, Gen]) -> Gen:
    known = compiled.get(descriptor.full_name)
    if known is not None:
        return known
    parts: list[tuple[str, bool, Gen]] = []
    oneofs: list[list[tuple[str, Gen]]] = []

    def gen(ctx: GenContext, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, always, value in parts:
            if always or (depth <= SOFT_DEPTH and ctx.rng.random() < OPTIONAL_SHARE):
                out[name] = value(ctx, depth + 1)
        for choices in oneofs:
            name, value = choices[ctx.rng.randrange(len(choices))]
            out[name] = value(ctx, depth + 1)
        return out

    compiled[descriptor.full_name] = gen
    real_oneofs = {o.name: o for o in descriptor.oneofs if not _synthetic(o)}
    for oneof in real_oneofs.values():
        oneofs.append([(f.name, _field(f, compiled)) for f in oneof.fields])
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and oneof.name in real_oneofs:
            continue
        always = field.is_required or (field.message_type is None and oneof is None and not field.is_repeated)
        parts.append((field.name, always, _field(field, compiled)))
    return gen


def _synthetic(oneof: Any) -> bool:
    return (
        len(oneof.fields) == 1
        and bool(getattr(oneof.fields[0], "has_presence", False))
        and oneof.name == f"_{oneof.fields[0].name}"
    )


def _field(field: FieldDescriptor, compiled: dict[str, Gen]) -> Gen:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key, value = (
            _single(entry.fields_by_name["key"], compiled),
            _single(entry.fields_by_name["value"], compiled),
        )

        def map_gen(ctx: GenContext, depth: int) -> dict[str, Any]:
            return {str(key(ctx, depth)): value(ctx, depth) for _ in range(bounded_repeat(ctx, depth, 0, 3))}

        return map_gen
    single = _single(field, compiled)
    if field.is_repeated:
        return lambda ctx, depth: [single(ctx, depth) for _ in range(bounded_repeat(ctx, depth, 1, 3))]
    return single


def _single(field: FieldDescriptor, compiled: dict[str, Gen]) -> Gen:
    kind = field.type
    if field.message_type is not None:
        wkt = _WELL_KNOWN.get(field.message_type.full_name)
        return wkt if wkt is not None else _message(field.message_type, compiled)
    if kind == FieldDescriptor.TYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        useful = [n for n in names if not n.endswith("_UNSPECIFIED")] or names
        return lambda ctx, depth: ctx.rng.choice(useful)
    if kind == FieldDescriptor.TYPE_STRING:
        text_hint = string_hint(field.name)
        if text_hint is not None:
            return lambda ctx, depth: str(text_hint(ctx))
        return lambda ctx, depth: ctx.rng.choice(ctx.pools.words)
    if kind == FieldDescriptor.TYPE_BYTES:
        return lambda ctx, depth: base64.b64encode(ctx.rng.randbytes(8)).decode()
    if kind == FieldDescriptor.TYPE_BOOL:
        return lambda ctx, depth: ctx.rng.random() < 0.5
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        float_hint = number_hint(field.name, integer=False)
        if float_hint is not None:
            return lambda ctx, depth: _as_float(float_hint(ctx))
        return lambda ctx, depth: round(ctx.rng.uniform(0, 1000), 2)
    low, high = _INTS.get(kind, (-(2**63), 2**63 - 1))
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        low = 0
    hint = number_hint(field.name, integer=True)
    wide = kind in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    )

    def number(ctx: GenContext, depth: int) -> Any:
        raw = hint(ctx) if hint is not None else ctx.rng.randint(0, 10_000)
        value = min(max(int(raw), low), high) if isinstance(raw, int | float) else 0
        return str(value) if wide else value  # the JSON mapping writes 64-bit integers as strings

    return number


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0
