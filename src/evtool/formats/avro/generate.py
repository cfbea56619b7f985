"""Schema-driven generation for Avro: all primitives, records, enums, arrays, maps, fixed, unions,
named references (recursive included) and the logical types of the specification. Values are what
fastavro writes: ints for timestamps/dates, `Decimal` for decimals, bytes for bytes/fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from evtool.errors import SchemaError
from evtool.formats.generation import HARD_DEPTH, SOFT_DEPTH, DataGenerator, Gen
from evtool.formats.generation import INT32 as _INT32
from evtool.formats.generation import INT64 as _INT64
from evtool.formats.generation import Cell as _Cell
from evtool.formats.generation import err as _err
from evtool.formats.generation import top as _top
from evtool.values.context import GenContext
from evtool.values.hints import number_hint, string_hint


def compile_avro_schema(document: Any, *, source: str = "schema") -> DataGenerator:
    """Compile an Avro schema (.avsc document) into a generator of fastavro-writable values."""
    return _top(_AvroCompiler(source).node(document, "", None, ""))


_AVRO_PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")


@dataclass
class _Named:
    cell: _Cell
    terminates: bool  # False while a record is being compiled (a reference to it is recursive)


class _AvroCompiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.named: dict[str, _Named] = {}

    def fail(self, pointer: str, what: str, hint: str | None = None) -> SchemaError:
        return _err(self.source, pointer, what, hint)

    def fullname(self, name: str, namespace: str) -> str:
        if "." in name or not namespace:
            return name
        return f"{namespace}.{name}"

    def node(self, schema: Any, pointer: str, name: str | None, namespace: str) -> Gen:
        if isinstance(schema, str):
            if schema in _AVRO_PRIMITIVES:
                return self.primitive(schema, {}, pointer, name)
            for candidate in (self.fullname(schema, namespace), schema):
                if candidate in self.named:
                    return self.named[candidate].cell
            raise self.fail(pointer, f"unknown Avro type {schema!r}", hint="define the named type before use")
        if isinstance(schema, list):
            return self.union(schema, pointer, name, namespace)
        if not isinstance(schema, dict) or "type" not in schema:
            raise self.fail(
                pointer, "an Avro schema must be a type name, a list (union) or an object with `type`"
            )
        kind = schema["type"]
        if kind in ("record", "error"):
            return self.record(schema, pointer, namespace)
        if kind == "enum":
            symbols = schema.get("symbols")
            if not isinstance(symbols, list) or not symbols:
                raise self.fail(pointer, "enum needs a non-empty `symbols` list")
            self.register(schema, namespace, pointer, lambda ctx, depth: ctx.rng.choice(symbols))
            return lambda ctx, depth: ctx.rng.choice(symbols)
        if kind == "fixed":
            size = schema.get("size")
            if not isinstance(size, int) or size < 0:
                raise self.fail(pointer, "fixed needs a non-negative integer `size`")
            gen = self.fixed(schema, size, pointer)
            self.register(schema, namespace, pointer, gen)
            return gen
        if kind == "array":
            items = self.node(schema.get("items"), f"{pointer}/items", _singular(name), namespace)
            return lambda ctx, depth: [
                items(ctx, depth + 1) for _ in range(0 if depth > SOFT_DEPTH else ctx.rng.randint(1, 3))
            ]
        if kind == "map":
            values = self.node(schema.get("values"), f"{pointer}/values", None, namespace)
            return lambda ctx, depth: {
                f"{ctx.rng.choice(ctx.pools.words)}_{i}": values(ctx, depth + 1)
                for i in range(0 if depth > SOFT_DEPTH else ctx.rng.randint(1, 3))
            }
        if isinstance(kind, str) and kind in _AVRO_PRIMITIVES:
            return self.primitive(kind, schema, pointer, name)
        if isinstance(kind, dict | list):
            return self.node(kind, f"{pointer}/type", name, namespace)
        if isinstance(kind, str):
            return self.node(kind, f"{pointer}/type", name, namespace)
        raise self.fail(pointer, f"unknown Avro type {kind!r}")

    def register(self, schema: dict[str, Any], namespace: str, pointer: str, gen: Gen) -> _Named:
        raw = schema.get("name")
        if not isinstance(raw, str) or not raw:
            raise self.fail(pointer, f"a named type ({schema['type']}) needs a `name`")
        full = self.fullname(raw, schema.get("namespace", namespace))
        entry = _Named(_Cell(), terminates=True)
        entry.cell.gen = gen
        self.named[full] = entry
        return entry

    def record(self, schema: dict[str, Any], pointer: str, namespace: str) -> Gen:
        raw = schema.get("name")
        if not isinstance(raw, str) or not raw:
            raise self.fail(pointer, "a record needs a `name`")
        own_ns = schema.get("namespace", namespace if "." not in raw else raw.rsplit(".", 1)[0])
        full = self.fullname(raw, own_ns)
        entry = _Named(_Cell(), terminates=False)
        self.named[full] = entry
        if "." not in raw:
            self.named.setdefault(raw, entry)
        fields_raw = schema.get("fields")
        if not isinstance(fields_raw, list):
            raise self.fail(pointer, "a record needs a `fields` list")
        fields: list[tuple[str, Gen]] = []
        for index, field_schema in enumerate(fields_raw):
            where = f"{pointer}/fields/{index}"
            if not isinstance(field_schema, dict) or not isinstance(field_schema.get("name"), str):
                raise self.fail(where, "a field needs a `name`")
            fields.append(
                (
                    field_schema["name"],
                    self.node(field_schema.get("type"), f"{where}/type", field_schema["name"], own_ns),
                )
            )
        source = self.source

        def draw(ctx: GenContext, depth: int) -> dict[str, Any]:
            if depth > HARD_DEPTH:
                raise _err(
                    source,
                    pointer,
                    f"record {full} contains itself with no way to stop",
                    hint="make the recursive field a union with null or an array",
                )
            return {field_name: gen(ctx, depth + 1) for field_name, gen in fields}

        entry.cell.gen = draw
        entry.terminates = True
        return draw

    def union(self, branches: list[Any], pointer: str, name: str | None, namespace: str) -> Gen:
        if not branches:
            raise self.fail(pointer, "an empty union has no values")
        gens = [self.node(b, f"{pointer}/{i}", name, namespace) for i, b in enumerate(branches)]
        null_index = next((i for i, b in enumerate(branches) if b == "null"), None)
        leaf = [i for i, b in enumerate(branches) if _is_leaf(b)]
        others = [g for i, g in enumerate(gens) if i != null_index]
        stop = gens[null_index] if null_index is not None else gens[leaf[0]] if leaf else None

        def draw(ctx: GenContext, depth: int) -> Any:
            if depth > SOFT_DEPTH and stop is not None:
                return stop(ctx, depth)
            if null_index is not None and (not others or ctx.rng.random() < 0.2):
                return None
            return ctx.rng.choice(others)(ctx, depth)

        return draw

    def fixed(self, schema: dict[str, Any], size: int, pointer: str) -> Gen:
        if schema.get("logicalType") == "decimal":
            max_digits = math.floor(math.log10(2 ** (8 * size - 1) - 1)) if size else 0
            return self.decimal(schema, pointer, max_digits)
        return lambda ctx, depth: ctx.rng.randbytes(size)

    def decimal(self, schema: dict[str, Any], pointer: str, max_digits: int | None) -> Gen:
        precision = schema.get("precision")
        scale = schema.get("scale", 0)
        if not isinstance(precision, int) or precision < 1:
            raise self.fail(pointer, "decimal needs a positive integer `precision`")
        if not isinstance(scale, int) or not 0 <= scale <= precision:
            raise self.fail(pointer, f"decimal scale {scale} must be between 0 and precision {precision}")
        digits = min(precision, max_digits) if max_digits is not None else precision
        top = 10 ** min(digits, 12) - 1
        return lambda ctx, depth: Decimal(ctx.rng.randint(0, top)).scaleb(-scale)

    def primitive(self, kind: str, schema: dict[str, Any], pointer: str, name: str | None) -> Gen:
        logical = schema.get("logicalType")
        if kind in ("int", "long") and logical in ("timestamp-millis", "local-timestamp-millis"):
            return lambda ctx, depth: ctx.now_ms
        if kind == "long" and logical in ("timestamp-micros", "local-timestamp-micros"):
            return lambda ctx, depth: ctx.now_ms * 1000 + ctx.rng.randint(0, 999)
        if kind == "long" and logical in ("timestamp-nanos", "local-timestamp-nanos"):
            return lambda ctx, depth: ctx.now_ms * 1_000_000 + ctx.rng.randint(0, 999_999)
        if kind == "int" and logical == "date":
            return lambda ctx, depth: ctx.now_ms // 86_400_000
        if kind == "int" and logical == "time-millis":
            return lambda ctx, depth: ctx.now_ms % 86_400_000
        if kind == "long" and logical == "time-micros":
            return lambda ctx, depth: (ctx.now_ms % 86_400_000) * 1000
        if kind == "string" and logical == "uuid":
            return lambda ctx, depth: ctx.uuid()
        if kind == "bytes" and logical == "decimal":
            return self.decimal(schema, pointer, None)
        if kind == "null":
            return lambda ctx, depth: None
        if kind == "boolean":
            return lambda ctx, depth: ctx.rng.random() < 0.5
        if kind in ("int", "long"):
            lo, hi = _INT32 if kind == "int" else _INT64
            int_hint = number_hint(name, integer=True) if name else None
            if int_hint is not None:

                def hinted(ctx: GenContext, depth: int) -> int:
                    value = int_hint(ctx)
                    return value if isinstance(value, int) and lo <= value <= hi else ctx.rng.randint(0, 1000)

                return hinted
            return lambda ctx, depth: ctx.rng.randint(0, 1000)
        if kind in ("float", "double"):
            float_hint = number_hint(name, integer=False) if name else None
            if float_hint is not None:
                return lambda ctx, depth: _as_float(float_hint(ctx))
            return lambda ctx, depth: round(ctx.rng.uniform(0, 1000), 2)
        if kind == "bytes":
            return lambda ctx, depth: ctx.rng.randbytes(ctx.rng.randint(4, 16))
        str_hint = string_hint(name) if name else None
        if str_hint is not None:
            return lambda ctx, depth: str(str_hint(ctx))
        return lambda ctx, depth: ctx.rng.choice(ctx.pools.words)


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _is_leaf(schema: Any) -> bool:
    if isinstance(schema, str):
        return schema in _AVRO_PRIMITIVES
    return isinstance(schema, dict) and schema.get("type") in (
        *_AVRO_PRIMITIVES,
        "enum",
        "fixed",
        "array",
        "map",
    )


def _singular(name: str | None) -> str | None:
    return name[:-1] if name and name.endswith("s") else name
