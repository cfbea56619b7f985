"""Schema-driven generation: compile any JSON Schema or Avro schema once into a fast value generator.

A user's own event types get valid, realistic-looking data without code: the schema gives the
structure and constraints, field names pick pool values (`email`, `city`, `*price*`, `*_id` …)
where the schema leaves room. Contradictory constraints raise SchemaError naming the JSON pointer
of the field, at compile time or on the first trial draw — never an endless loop.

Supported JSON Schema: type (incl. lists/null), enum, const, format (date-time, date, time,
email, uuid, uri, hostname, ipv4/6), min/max(Length|Items|Properties|imum), exclusive bounds,
multipleOf, pattern, properties/required/additionalProperties, arrays (items, prefixItems,
tuple items, contains, uniqueItems), allOf (merged), anyOf/oneOf (oneOf checked to match exactly
one branch), local $ref with recursion bounded by depth. `not` and if/then/else are not steered
(validation will say so). Avro: all primitives, records, enums, arrays, maps, fixed, unions,
named references (recursive included) and the logical types of the specification. Avro values are
what fastavro writes: ints for timestamps/dates, `Decimal` for decimals, bytes for bytes/fixed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from evtool.errors import SchemaError
from evtool.formats.generation import DEFAULT_SPAN as _DEFAULT_SPAN
from evtool.formats.generation import HARD_DEPTH, OPTIONAL_SHARE, SOFT_DEPTH, DataGenerator, Gen
from evtool.formats.generation import Cell as _Cell
from evtool.formats.generation import bounded_repeat as _bounded_repeat
from evtool.formats.generation import err as _err
from evtool.formats.generation import probe_context as _probe_context
from evtool.formats.generation import top as _top
from evtool.formats.jsonschema.patterns import compile_pattern
from evtool.formats.jsontext import escape_pointer_token
from evtool.values.context import GenContext
from evtool.values.hints import Hint, number_hint, string_hint

# --------------------------------------------------------------------------------------------
# JSON Schema


def compile_json_schema(document: Any, *, source: str = "schema") -> DataGenerator:
    """Compile a JSON Schema (draft 4 to 2020-12) document into a generator."""
    return _top(_JsonCompiler(document, source).node(document, "", None))


_NUMERIC_TYPES = ("integer", "number")
_ALL_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


def _types_of(schema: dict[str, Any]) -> list[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    return None


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One schema that means `allOf: [a, b]` closely enough to generate from."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        mine = out[key]
        if key == "properties":
            props = dict(mine)
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            out[key] = props
        elif key == "required":
            out[key] = list(dict.fromkeys([*mine, *value]))
        elif key == "type":
            left = [mine] if isinstance(mine, str) else list(mine)
            right = [value] if isinstance(value, str) else list(value)
            both = [t for t in left if t in right]
            if "integer" in left and "number" in right and "integer" not in both:
                both.append("integer")
            if "number" in left and "integer" in right and "integer" not in both:
                both.append("integer")
            out[key] = both
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"):
            out[key] = max(mine, value) if not isinstance(mine, bool) else value
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"):
            out[key] = min(mine, value) if not isinstance(mine, bool) else value
        elif key == "enum":
            out[key] = [v for v in mine if v in value]
        elif key == "additionalProperties":
            out[key] = False if mine is False or value is False else mine
        elif key == "pattern" and mine != value:
            out["allOf"] = [*out.get("allOf", []), {"pattern": value}]
    return out


class _JsonCompiler:
    def __init__(self, root: Any, source: str) -> None:
        self.root = root
        self.source = source
        self.refs: dict[str, _Cell] = {}
        self.root_id = root.get("$id", "") if isinstance(root, dict) else ""
        self._validator: Any = None

    def fail(self, pointer: str, what: str, hint: str | None = None) -> SchemaError:
        return _err(self.source, pointer, what, hint)

    # -- references -------------------------------------------------------------------------
    def resolve(self, ref: str, pointer: str) -> tuple[Any, str]:
        target = ref
        if self.root_id and target.startswith(self.root_id):
            target = target[len(self.root_id) :]
        if not target.startswith("#"):
            raise self.fail(pointer, f"$ref {ref!r} is not local", hint="only refs into the same file work")
        fragment = target[1:]
        node: Any = self.root
        if fragment and not fragment.startswith("/"):
            found = self._anchor(self.root, fragment)
            if found is None:
                raise self.fail(pointer, f"$ref {ref!r}: anchor not found")
            return found
        for raw in fragment.split("/")[1:] if fragment else []:
            token = raw.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (KeyError, IndexError, ValueError, TypeError):
                raise self.fail(pointer, f"$ref {ref!r} points to nothing") from None
        return node, fragment

    def _anchor(self, node: Any, name: str, at: str = "") -> tuple[Any, str] | None:
        if isinstance(node, dict):
            if node.get("$anchor") == name or node.get("$id") == f"#{name}":
                return node, at
            for key, value in node.items():
                found = self._anchor(value, name, f"{at}/{escape_pointer_token(key)}")
                if found:
                    return found
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found = self._anchor(value, name, f"{at}/{index}")
                if found:
                    return found
        return None

    def deref(self, schema: Any, pointer: str) -> tuple[Any, str]:
        """Follow pure `$ref` chains (for merging); siblings of $ref are merged in (2019-09+)."""
        seen: set[str] = set()
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen:
                raise self.fail(pointer, f"$ref {ref!r} refers only to itself")
            seen.add(ref)
            target, target_pointer = self.resolve(ref, pointer)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = _merge(target, rest) if rest and isinstance(target, dict) else target
            pointer = target_pointer
        return schema, pointer

    # -- nodes ------------------------------------------------------------------------------
    def node(self, schema: Any, pointer: str, name: str | None) -> Gen:
        if schema is True or schema == {}:
            return self.any_value(name)
        if schema is False:
            raise self.fail(pointer, "schema `false` accepts no value")
        if not isinstance(schema, dict):
            raise self.fail(pointer, f"a schema must be an object or boolean, not {type(schema).__name__}")
        if (
            "$ref" in schema
            and len([k for k in schema if not k.startswith(("$comment", "description"))]) == 1
        ):
            return self.ref(schema["$ref"], pointer, name)
        if "$ref" in schema:
            schema, pointer = self.deref(schema, pointer)
            return self.node(schema, pointer, name)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for index, raw_part in enumerate(schema["allOf"]):
                part, _ = self.deref(raw_part, f"{pointer}/allOf/{index}")
                if part is False:
                    raise self.fail(f"{pointer}/allOf/{index}", "schema `false` accepts no value")
                if isinstance(part, dict):
                    merged = _merge(merged, part)
            if "allOf" in merged:  # patterns that could not be merged: check them after drawing
                extra = merged.pop("allOf")
                return self.checked(self.node(merged, pointer, name), {"allOf": extra}, pointer)
            return self.node(merged, pointer, name)
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                return self.choice(schema, keyword, pointer, name)
        return self.typed(schema, pointer, name)

    def ref(self, ref: str, pointer: str, name: str | None) -> Gen:
        target, target_pointer = self.resolve(ref, pointer)
        cell = self.refs.get(target_pointer)
        if cell is None:
            cell = self.refs[target_pointer] = _Cell()
            cell.gen = self.node(target, target_pointer, name)
        source, where = self.source, pointer

        def follow(ctx: GenContext, depth: int) -> Any:
            if depth > HARD_DEPTH:
                raise _err(
                    source, where, f"recursive $ref {ref!r} never stops", hint="make the recursion optional"
                )
            return cell(ctx, depth + 1)

        return follow

    def checked(self, gen: Gen, schema: dict[str, Any], pointer: str) -> Gen:
        is_valid = self.validator(schema).is_valid
        source = self.source

        def draw(ctx: GenContext, depth: int) -> Any:
            for _ in range(32):
                value = gen(ctx, depth)
                if is_valid(value):
                    return value
            raise _err(source, pointer, "no generated value satisfies all of allOf")

        return draw

    def validator(self, schema: Any) -> Any:
        if self._validator is None:
            from jsonschema.validators import validator_for

            cls = validator_for(self.root if isinstance(self.root, dict) else {})
            self._validator = cls(self.root)
        return self._validator.evolve(schema=schema)

    def choice(self, schema: dict[str, Any], keyword: str, pointer: str, name: str | None) -> Gen:
        base = {k: v for k, v in schema.items() if k != keyword}
        options = schema[keyword]
        if not isinstance(options, list) or not options:
            raise self.fail(f"{pointer}/{keyword}", f"{keyword} needs a non-empty list of schemas")
        branches: list[Gen] = []
        errors: list[SchemaError] = []
        for index, raw_option in enumerate(options):
            where = f"{pointer}/{keyword}/{index}"
            try:
                option, _ = self.deref(raw_option, where)
                if option is False:
                    continue
                merged = _merge(base, option) if isinstance(option, dict) else base
                branches.append(self.node(merged, where, name))
            except SchemaError as exc:  # one impossible branch is fine while another works
                errors.append(exc)
        if not branches:
            raise errors[0] if errors else self.fail(pointer, f"no {keyword} branch can be satisfied")
        if keyword == "anyOf":
            return lambda ctx, depth: ctx.rng.choice(branches)(ctx, depth)
        checks = [self.validator(option).is_valid for option in options]
        source = self.source

        def one_of(ctx: GenContext, depth: int) -> Any:
            for _ in range(32):
                value = ctx.rng.choice(branches)(ctx, depth)
                if sum(1 for check in checks if check(value)) == 1:
                    return value
            raise _err(
                source,
                pointer,
                "oneOf: generated values keep matching several branches",
                hint="make the branches exclusive (a const or required discriminator)",
            )

        return one_of

    def typed(self, schema: dict[str, Any], pointer: str, name: str | None) -> Gen:
        types = _types_of(schema)
        if "const" in schema:
            value = schema["const"]
            return lambda ctx, depth: value
        if "enum" in schema:
            return self.enum(schema, types, pointer)
        if types is None:
            types = self.infer_types(schema)
        if not types:
            raise self.fail(pointer, "`type` allows no type")
        unknown = [t for t in types if t not in _ALL_TYPES]
        if unknown:
            raise self.fail(pointer, f"unknown type {unknown[0]!r}")
        gens: list[Gen] = []
        errors: list[SchemaError] = []
        for kind in types:
            try:
                gens.append(self.of_type(kind, schema, pointer, name))
            except SchemaError as exc:
                errors.append(exc)
        if not gens:
            raise errors[0]
        if len(gens) == 1:
            return gens[0]
        if "null" in types and len(gens) == 2 and not errors:  # nullable: mostly a value
            value_gen = gens[0] if types[0] != "null" else gens[1]
            return lambda ctx, depth: None if ctx.rng.random() < 0.1 else value_gen(ctx, depth)
        return lambda ctx, depth: ctx.rng.choice(gens)(ctx, depth)

    def infer_types(self, schema: dict[str, Any]) -> list[str]:
        if any(k in schema for k in ("properties", "required", "additionalProperties", "patternProperties")):
            return ["object"]
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems", "contains")):
            return ["array"]
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return ["string"]
        if any(
            k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        ):
            return ["number"]
        return ["string"]

    def enum(self, schema: dict[str, Any], types: list[str] | None, pointer: str) -> Gen:
        values = schema["enum"]
        if not isinstance(values, list):
            raise self.fail(f"{pointer}/enum", "enum must be a list")
        if types is not None:
            values = [v for v in values if _json_type_ok(v, types)]
        if not values:
            raise self.fail(
                f"{pointer}/enum", "no enum value has an allowed type", hint="make `enum` and `type` agree"
            )
        choices = list(values)
        return lambda ctx, depth: ctx.rng.choice(choices)

    def of_type(self, kind: str, schema: dict[str, Any], pointer: str, name: str | None) -> Gen:
        if kind == "string":
            return self.string(schema, pointer, name)
        if kind in _NUMERIC_TYPES:
            return self.number(schema, pointer, name, integer=kind == "integer")
        if kind == "boolean":
            return lambda ctx, depth: ctx.rng.random() < 0.5
        if kind == "null":
            return lambda ctx, depth: None
        if kind == "array":
            return self.array(schema, pointer, name)
        return self.object(schema, pointer)

    def any_value(self, name: str | None) -> Gen:
        hint = string_hint(name) if name else None
        if hint is not None:
            return lambda ctx, depth: hint(ctx)
        return lambda ctx, depth: ctx.rng.choice(ctx.pools.words)

    # -- strings ----------------------------------------------------------------------------
    def string(self, schema: dict[str, Any], pointer: str, name: str | None) -> Gen:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        high = None if high is None else int(high)
        if high is not None and low > high:
            raise self.fail(pointer, f"minLength {low} > maxLength {high}")
        fits = _length_check(low, high)
        base: Callable[[GenContext], str] | None = None
        fixed = False  # True when `base` is the only way to satisfy the schema
        fmt = schema.get("format")
        if "pattern" in schema:
            base, fixed = (
                _pattern_draw(self.pattern(schema["pattern"], f"{pointer}/pattern")),
                True,
            )
        elif isinstance(fmt, str) and fmt in _FORMATS:
            base, fixed = _FORMATS[fmt], True
        elif name:
            hint = string_hint(name)
            if hint is not None:
                base = _as_str(hint)
        words = _text_draw(low, high)
        if base is None:
            return lambda ctx, depth: words(ctx)
        draw = base
        if fixed:
            source = self.source

            def strict(ctx: GenContext, depth: int) -> str:
                for _ in range(32):
                    value = draw(ctx)
                    if fits(value):
                        return value
                raise _err(
                    source,
                    pointer,
                    f"no value of this pattern/format has length in "
                    f"[{low}, {high if high is not None else '∞'}]",
                )

            strict(_probe_context(), 0)
            return strict

        def loose(ctx: GenContext, depth: int) -> str:
            value = draw(ctx)
            return value if fits(value) else words(ctx)

        return loose

    def pattern(self, pattern: Any, pointer: str) -> Callable[[random.Random], str]:
        if not isinstance(pattern, str):
            raise self.fail(pointer, "pattern must be a string")
        try:
            return compile_pattern(pattern, pointer=pointer)
        except SchemaError as exc:
            raise SchemaError(f"{self.source}: {exc.message}", pointer=pointer, hint=exc.hint) from None

    # -- numbers ----------------------------------------------------------------------------
    def number(self, schema: dict[str, Any], pointer: str, name: str | None, *, integer: bool) -> Gen:
        low, high = schema.get("minimum"), schema.get("maximum")
        ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        low_open = high_open = False
        if isinstance(ex_low, bool):  # draft 4
            low_open = ex_low
        elif isinstance(ex_low, int | float) and (low is None or ex_low >= low):
            low, low_open = ex_low, True
        if isinstance(ex_high, bool):
            high_open = ex_high
        elif isinstance(ex_high, int | float) and (high is None or ex_high <= high):
            high, high_open = ex_high, True
        multiple = schema.get("multipleOf")
        if multiple is not None and (not isinstance(multiple, int | float) or multiple <= 0):
            raise self.fail(f"{pointer}/multipleOf", "multipleOf must be a positive number")
        hint = number_hint(name, integer=integer) if name else None
        if integer or (multiple is not None and float(multiple).is_integer()):
            return self.integer_range(low, high, low_open, high_open, multiple, hint, pointer)
        return self.float_range(low, high, low_open, high_open, multiple, hint, pointer)

    def integer_range(
        self,
        low: Any,
        high: Any,
        low_open: bool,
        high_open: bool,
        multiple: Any,
        hint: Hint | None,
        pointer: str,
    ) -> Gen:
        lo = (
            None if low is None else (math.floor(low) + 1 if low_open or low != math.floor(low) else int(low))
        )
        if lo is not None and low_open and low != math.floor(low):
            lo = math.ceil(low)
        hi = (
            None
            if high is None
            else (math.ceil(high) - 1 if high_open or high != math.ceil(high) else int(high))
        )
        if hi is not None and high_open and high != math.ceil(high):
            hi = math.floor(high)
        if lo is None and hi is None:
            lo, hi = 0, _DEFAULT_SPAN
        elif lo is None:
            lo = hi - _DEFAULT_SPAN  # type: ignore[operator]
        elif hi is None:
            hi = lo + _DEFAULT_SPAN
        assert lo is not None
        assert hi is not None
        step = 1
        if multiple is not None:
            step = int(multiple)
            lo, hi = -(-lo // step), hi // step  # range of k in k * step
        if lo > hi:
            raise self.fail(
                pointer,
                "no integer satisfies minimum/maximum/multipleOf",
                hint="check the bounds (minimum above maximum?)",
            )
        k_lo, k_hi = lo, hi
        if hint is not None:

            def hinted(ctx: GenContext, depth: int) -> int:
                value = hint(ctx)
                if isinstance(value, int) and value % step == 0 and k_lo <= value // step <= k_hi:
                    return value
                return ctx.rng.randint(k_lo, k_hi) * step

            return hinted
        if step == 1:
            return lambda ctx, depth: ctx.rng.randint(k_lo, k_hi)
        return lambda ctx, depth: ctx.rng.randint(k_lo, k_hi) * step

    def float_range(
        self,
        low: Any,
        high: Any,
        low_open: bool,
        high_open: bool,
        multiple: Any,
        hint: Hint | None,
        pointer: str,
    ) -> Gen:
        lo = float(low) if low is not None else None
        hi = float(high) if high is not None else None
        if lo is None and hi is None:
            lo, hi = 0.0, float(_DEFAULT_SPAN)
        elif lo is None:
            lo = hi - _DEFAULT_SPAN  # type: ignore[operator]
        elif hi is None:
            hi = lo + _DEFAULT_SPAN
        assert lo is not None
        assert hi is not None
        if lo > hi or (lo == hi and (low_open or high_open)):
            raise self.fail(pointer, f"no number satisfies minimum {low} / maximum {high}")
        if multiple is not None:
            m = Decimal(str(multiple))
            k_lo = math.ceil(Decimal(str(lo)) / m)
            k_hi = math.floor(Decimal(str(hi)) / m)
            if low_open and k_lo * m == Decimal(str(lo)):
                k_lo += 1
            if high_open and k_hi * m == Decimal(str(hi)):
                k_hi -= 1
            if k_lo > k_hi:
                raise self.fail(pointer, f"no multiple of {multiple} lies within the bounds")
            m_float = float(multiple)

            def multiple_of(ctx: GenContext, depth: int) -> float:
                # Validators divide in binary floating point: prefer values whose quotient is exact.
                value = float(ctx.rng.randint(k_lo, k_hi) * m)
                for _ in range(16):
                    if (value / m_float).is_integer():
                        return value
                    value = float(ctx.rng.randint(k_lo, k_hi) * m)
                return value

            return multiple_of
        f_lo, f_hi = lo, hi

        def inside(value: float) -> bool:
            return (value > f_lo if low_open else value >= f_lo) and (
                value < f_hi if high_open else value <= f_hi
            )

        def draw(ctx: GenContext, depth: int) -> float:
            if hint is not None:
                hinted = hint(ctx)
                if isinstance(hinted, int | float) and inside(float(hinted)):
                    return float(hinted)
            for _ in range(8):
                value = round(ctx.rng.uniform(f_lo, f_hi), 2)
                if inside(value):
                    return value
            return (f_lo + f_hi) / 2

        return draw

    # -- arrays -----------------------------------------------------------------------------
    def array(self, schema: dict[str, Any], pointer: str, name: str | None) -> Gen:
        low = int(schema.get("minItems", 0))
        high_raw = schema.get("maxItems")
        if high_raw is not None and low > int(high_raw):
            raise self.fail(pointer, f"minItems {low} > maxItems {high_raw}")
        prefix_schemas = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft-07 tuple form
            prefix_schemas, items = items, schema.get("additionalItems", True)
        prefix = [
            self.node(s, f"{pointer}/prefixItems/{i}", name) for i, s in enumerate(prefix_schemas or [])
        ]
        item_name = name[:-1] if name and name.endswith("s") else name
        rest: Gen | None
        if items is False:
            rest = None
        else:
            rest = self.node(items if items is not None else {}, f"{pointer}/items", item_name)
        high = int(high_raw) if high_raw is not None else max(low, len(prefix)) + 3
        if rest is None:
            high = min(high, len(prefix))
            if low > high:
                raise self.fail(pointer, f"minItems {low} but only {len(prefix)} items are allowed")
        contains = (
            self.node(schema["contains"], f"{pointer}/contains", item_name) if "contains" in schema else None
        )
        unique = bool(schema.get("uniqueItems"))
        source = self.source
        low = max(low, 1) if contains is not None else low

        def draw(ctx: GenContext, depth: int) -> list[Any]:
            count = _bounded_repeat(ctx, depth, low, high)
            out: list[Any] = []
            seen: set[bytes] = set()
            attempts = 0
            while len(out) < count:
                index = len(out)
                if contains is not None and index == 0:
                    value = contains(ctx, depth + 1)
                elif index < len(prefix):
                    value = prefix[index](ctx, depth + 1)
                else:
                    assert rest is not None
                    value = rest(ctx, depth + 1)
                if unique:
                    key = _freeze(value)
                    if key in seen:
                        attempts += 1
                        if attempts > 20 * (count + 1):
                            if len(out) >= low:
                                break
                            raise _err(source, pointer, f"cannot draw {low} unique items")
                        continue
                    seen.add(key)
                out.append(value)
            return out

        return draw

    # -- objects ----------------------------------------------------------------------------
    def object(self, schema: dict[str, Any], pointer: str) -> Gen:
        properties: dict[str, Any] = schema.get("properties", {}) or {}
        required = list(dict.fromkeys(schema.get("required", []) or []))
        additional = schema.get("additionalProperties", True)
        fields: list[tuple[str, Gen, bool]] = []
        for prop, sub in properties.items():
            where = f"{pointer}/properties/{escape_pointer_token(prop)}"
            is_required = prop in required
            try:
                fields.append((prop, self.node(sub, where, prop), is_required))
            except SchemaError:
                if is_required:
                    raise
        for prop in required:
            if prop in properties:
                continue
            if additional is False:
                raise self.fail(
                    pointer, f"required property {prop!r} is not allowed by additionalProperties: false"
                )
            extra_schema = additional if isinstance(additional, dict) else {}
            fields.append((prop, self.node(extra_schema, f"{pointer}/additionalProperties", prop), True))
        min_props = int(schema.get("minProperties", 0))
        max_props = schema.get("maxProperties")
        n_required = sum(1 for _, _, r in fields if r)
        if max_props is not None and n_required > int(max_props):
            raise self.fail(pointer, f"{n_required} required properties but maxProperties {max_props}")
        if min_props > len(fields) and additional is False:
            raise self.fail(
                pointer, f"minProperties {min_props} but only {len(fields)} properties are allowed"
            )
        extra_gen = (
            self.node(
                additional if isinstance(additional, dict) else {}, f"{pointer}/additionalProperties", None
            )
            if min_props > len(fields)
            else None
        )
        limit = int(max_props) if max_props is not None else len(fields)
        dependent: dict[str, list[str]] = schema.get("dependentRequired", {}) or {}
        all_required = all(r for _, _, r in fields)
        if all_required and not dependent and min_props <= len(fields) and limit >= len(fields):
            plan = [(prop, gen) for prop, gen, _ in fields]
            return lambda ctx, depth: {prop: gen(ctx, depth + 1) for prop, gen in plan}

        def draw(ctx: GenContext, depth: int) -> dict[str, Any]:
            rng = ctx.rng
            chosen = {
                prop
                for prop, _, req in fields
                if req or (depth <= SOFT_DEPTH and rng.random() < OPTIONAL_SHARE)
            }
            for prop in list(chosen):
                chosen.update(d for d in dependent.get(prop, []) if d in properties)
            for prop, _, _ in fields:
                if len(chosen) >= min_props:
                    break
                chosen.add(prop)
            out: dict[str, Any] = {}
            for prop, gen, req in fields:
                if prop in chosen and (req or len(out) < limit):
                    out[prop] = gen(ctx, depth + 1)
            index = 0
            while extra_gen is not None and len(out) < min_props:
                out[f"extra_{index}"] = extra_gen(ctx, depth + 1)
                index += 1
            return out

        return draw


def _json_type_ok(value: Any, types: list[str]) -> bool:
    for kind in types:
        if (
            (kind == "string" and isinstance(value, str))
            or (kind == "integer" and isinstance(value, int) and not isinstance(value, bool))
            or (kind == "number" and isinstance(value, int | float) and not isinstance(value, bool))
            or (kind == "boolean" and isinstance(value, bool))
            or (kind == "null" and value is None)
            or (kind == "array" and isinstance(value, list))
            or (kind == "object" and isinstance(value, dict))
        ):
            return True
    return False


def _freeze(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _length_check(low: int, high: int | None) -> Callable[[str], bool]:
    if high is None:
        return lambda s: len(s) >= low
    return lambda s: low <= len(s) <= high


def _as_str(hint: Hint) -> Callable[[GenContext], str]:
    return lambda ctx: str(hint(ctx))


def _pattern_draw(generate: Callable[[random.Random], str]) -> Callable[[GenContext], str]:
    return lambda ctx: generate(ctx.rng)


def _text_draw(low: int, high: int | None) -> Callable[[GenContext], str]:
    """Words from the pool, padded/truncated into [low, high] characters."""
    if high is not None and high < 4:
        alphabet = "abcdefghijklmnopqrstuvwxyz"
        return lambda ctx: "".join(ctx.rng.choices(alphabet, k=ctx.rng.randint(low, high)))
    target_low = max(low, 1)
    cap = high if high is not None else max(low, 60)

    def draw(ctx: GenContext) -> str:
        rng = ctx.rng
        text = rng.choice(ctx.pools.words) if low <= 40 and cap <= 120 else rng.choice(ctx.pools.sentences)
        while len(text) < target_low:
            text += " " + rng.choice(ctx.pools.sentences)
        if len(text) > cap:
            text = text[:cap].rstrip() or text[:cap]
            if len(text) < low:
                text = text.ljust(low, "x")
        return text

    return draw


def _date(ctx: GenContext) -> str:
    return ctx.now_rfc3339()[:10]


def _time(ctx: GenContext) -> str:
    return ctx.now_rfc3339()[11:]


_FORMATS: dict[str, Callable[[GenContext], str]] = {
    "date-time": GenContext.now_rfc3339,
    "date": _date,
    "time": _time,
    "email": lambda ctx: ctx.rng.choice(ctx.pools.customers).email,
    "idn-email": lambda ctx: ctx.rng.choice(ctx.pools.customers).email,
    "uuid": GenContext.uuid,
    "uri": lambda ctx: ctx.rng.choice(ctx.pools.urls),
    "iri": lambda ctx: ctx.rng.choice(ctx.pools.urls),
    "uri-reference": lambda ctx: "/" + ctx.rng.choice(ctx.pools.words),
    "iri-reference": lambda ctx: "/" + ctx.rng.choice(ctx.pools.words),
    "hostname": lambda ctx: ctx.rng.choice(ctx.pools.urls).split("/")[2],
    "idn-hostname": lambda ctx: ctx.rng.choice(ctx.pools.urls).split("/")[2],
    "ipv4": lambda ctx: ".".join(str(ctx.rng.randint(1, 254)) for _ in range(4)),
    "ipv6": lambda ctx: ":".join(f"{ctx.rng.getrandbits(16):x}" for _ in range(8)),
    "duration": lambda ctx: f"P{ctx.rng.randint(1, 30)}D",
    "json-pointer": lambda ctx: "/" + ctx.rng.choice(ctx.pools.words),
    "regex": lambda ctx: "^[a-z]+$",
}
