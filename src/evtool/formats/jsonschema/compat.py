"""JSON Schema compatibility, as Confluent Schema Registry judges it (STRICT policy).

``incompatibilities(reader, writer)`` is empty exactly when Confluent's diff of
``original=writer`` to ``update=reader`` holds no incompatible change; every finding carries
a counterexample event proven with the `jsonschema` validators (the writer accepts it,
the reader rejects it) or says why none was found.

Codes emitted (breaking ones first; "compatible" ones appear only in `changes`):

Breaking:
  type-changed                      the new type shares nothing with the old one
  type-narrowed                     some old types/values are no longer accepted
  enum-added / const-added          a value restriction appears
  enum-array-narrowed               values were removed from an enum
  enum-array-changed                values were removed and others added
  const-changed                     a const changed
  max-length-added / max-length-decreased
  min-length-added / min-length-increased
  pattern-added / pattern-changed
  maximum-added / maximum-decreased / minimum-added / minimum-increased
  exclusive-maximum-added / exclusive-maximum-decreased
  exclusive-minimum-added / exclusive-minimum-increased
  multiple-of-added / multiple-of-expanded / multiple-of-changed
  required-attribute-added          an existing property became required (no default)
  required-property-added-to-unopen-content-model   new required property, no default
  property-added-to-open-content-model              old events may carry it, any value
  property-added-not-covered-by-partially-open-content-model
  property-removed-from-closed-content-model        old events carrying it are rejected
  property-removed-not-covered-by-partially-open-content-model
  pattern-property-added / pattern-property-removed-from-closed-content-model
  additional-properties-removed     the content model was closed
  additional-properties-narrowed    additionalProperties gained a schema
  max-properties-added / max-properties-decreased
  min-properties-added / min-properties-increased
  dependency-array-added / dependency-array-extended / dependency-array-changed
  dependency-schema-added
  property-names-added / property-names-narrowed
  unevaluated-properties-added / unevaluated-properties-narrowed
  item-added-to-open-content-model / item-added-not-covered-by-partially-open-content-model
  item-removed-from-closed-content-model / item-removed-not-covered-by-partially-open-content-model
  items-narrowed / additional-items-narrowed / additional-items-removed
  max-items-added / max-items-decreased / min-items-added / min-items-increased
  unique-items-added
  contains-added / contains-narrowed
  max-contains-added / max-contains-decreased / min-contains-added / min-contains-increased
  combined-type-changed             e.g. anyOf became oneOf
  combined-type-subschemas-changed  an old branch matches no new branch
  sum-type-narrowed                 a oneOf/anyOf lost a branch
  product-type-extended             an allOf (or a new combinator) adds a constraint
  not-type-added / not-type-extended
  conditional-added / conditional-changed
Compatible (changes only):
  type-extended, enum-array-extended, enum-removed, *-removed / *-increased / *-decreased
  bounds that loosen, pattern-removed, multiple-of-reduced, required-attribute-removed,
  required-attribute-with-default-added, required-property-with-default-added-to-unopen-content-model,
  optional-property-added-to-unopen-content-model, property-removed-from-open-content-model,
  property-with-empty-schema-added-to-open-content-model, property-*-is-covered-by-*,
  property-with-false-removed-from-closed-content-model, additional-properties-added,
  additional-properties-extended, item-*-closed/open/covered counterparts, unique-items-removed,
  dependency-*-removed / dependency-array-narrowed, combined-type-extended,
  sum-type-extended, product-type-narrowed, not-type-narrowed / not-type-removed,
  conditional-removed, title-changed, description-changed, default-changed, id-changed,
  format-changed, annotation-changed.

Deliberate differences from Confluent (all on the side of the data): ``type`` lists are
type sets, not synthetic anyOfs; a node's ``type``/``enum``/``allOf`` are compared keyword by
keyword instead of as everit's synthetic allOf; ``minLength``/``minItems``/``minProperties``
of 0 count as absent; a required name with no ``properties`` entry is checked too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.validators
import orjson

from evtool.errors import SchemaError
from evtool.formats.findings import Change, Counterexample, Incompatibility, Side
from evtool.formats.jsonschema.diff import Diff, Differ
from evtool.formats.jsonschema.instances import Builder, GiveUp, candidates, fill_required, instance_path
from evtool.formats.jsonschema.model import (
    DRAFT4,
    DRAFT6,
    DRAFT7,
    DRAFT2019,
    DRAFT2020,
    Compiler,
    Node,
    dumps,
    escape,
)


def _optional_rs() -> Any:
    """jsonschema-rs when installed (the "fast" extra): a 300x faster metaschema check."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return jsonschema_rs


_rs: Any = _optional_rs()

_DRAFTS: dict[str, tuple[int, type[Any]]] = {
    "draft-04": (DRAFT4, jsonschema.Draft4Validator),
    "draft-06": (DRAFT6, jsonschema.Draft6Validator),
    "draft-07": (DRAFT7, jsonschema.Draft7Validator),
    "2019-09": (DRAFT2019, jsonschema.Draft201909Validator),
    "2020-12": (DRAFT2020, jsonschema.Draft202012Validator),
}
_MAX_TRIES = 24


@dataclass(frozen=True)
class JsonSchemaDoc:
    """A parsed JSON Schema: the document, its draft and its compiled node graph.

    Validators are compiled on first use (only counterexamples need them) and kept here,
    so each schema is compiled once however many pairs it takes part in.
    """

    document: Any
    source: str
    draft: int
    root: Node = field(repr=False, compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def validator(self) -> Any:
        """The reference (python-jsonschema) validator of this schema."""
        got = self._cache.get("validator")
        if got is None:
            cls = _validator_class(self.draft)
            got = self._cache["validator"] = cls(self.document)
        return got

    @property
    def fast_validator(self) -> Any:
        """jsonschema-rs's validator when installed and able to compile the schema, else None."""
        if "fast" not in self._cache:
            self._cache["fast"] = _fast_validator(self.document, self.draft)
        return self._cache["fast"]

    @property
    def builder(self) -> Builder:
        """Minimal-instance builder over this schema (as a writer), memoized per node."""
        got = self._cache.get("builder")
        if got is None:
            got = self._cache["builder"] = Builder()
        return got

    def is_valid(self, instance: Any) -> bool:
        fast = self.fast_validator
        return bool(fast.is_valid(instance) if fast is not None
                    else self.validator.is_valid(instance))

    def rejections(self, instance: Any) -> list[Rejection]:
        """Every reason this schema rejects ``instance``, each placed in the document, so a
        proof can be checked to fail for the finding's own reason and not another's.

        Remembered per instance: in a transitive check one reader meets the same witness from
        every later writer (python-jsonschema's full error walk is the costly part of a proof).
        """
        try:
            key = json.dumps(instance, allow_nan=True)  # exact: NaN, 1 vs 1.0 vs true stay apart
        except (TypeError, ValueError):
            return self._rejections(instance)
        memo: dict[str, list[Rejection]] = self._cache.setdefault("rejections", {})
        found = memo.get(key)
        if found is None:
            found = memo[key] = self._rejections(instance)
        return list(found)

    def _rejections(self, instance: Any) -> list[Rejection]:
        index = self._cache.get("pointers")
        if index is None:
            index = self._cache["pointers"] = _pointer_index(self.document)
        out = []
        for error in self.validator.iter_errors(instance):
            pointer = None
            base = index.get(id(error.schema)) if isinstance(error.schema, dict) else None
            if base is not None and isinstance(error.validator, str):
                pointer = f"{base}/{escape(error.validator)}"
                if error.validator == "required" and isinstance(error.instance, dict):
                    missing = [n for n in error.validator_value
                               if n not in error.instance and repr(n) in error.message]
                    if missing:
                        pointer += f"/{escape(missing[0])}"
            text = _one_line(f"{error.json_path}: {error.message}")
            out.append(Rejection(pointer, tuple(error.absolute_path), text))
        return out

    def proof(self, instance: Any) -> str:
        """One line naming where and why this schema rejects ``instance``."""
        fast = self.fast_validator
        if fast is not None:
            errors = list(islice(fast.iter_errors(instance), 2))
            if len(errors) == 1:  # one reason: no need to rank, and rs says it the same way
                return _one_line(f"{_json_path(errors[0].instance_path)}: {errors[0].message}")
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(instance))
        return "rejected" if error is None else _one_line(f"{error.json_path}: {error.message}")


@dataclass(frozen=True, slots=True)
class Rejection:
    """One validation error: the keyword's pointer in the document (None when it cannot be
    placed, e.g. a ``false`` subschema), the instance path, and the validator's words."""

    pointer: str | None
    path: tuple[Any, ...]
    text: str


def _pointer_index(document: Any) -> dict[int, str]:
    """Where each object of the document lives: jsonschema's errors carry the subschema
    object (its own schema path does not follow ``$ref``s), this turns it into a pointer."""
    index: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:  # containers only: a leaf's pointer would never be looked up
        value, pointer = stack.pop()
        if isinstance(value, dict):
            index.setdefault(id(value), pointer)
            stack.extend((v, f"{pointer}/{escape(str(k))}") for k, v in value.items()
                         if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(value)
                         if isinstance(v, dict | list))
    return index


def _fast_validator(document: Any, draft: int) -> Any:
    if _rs is None:
        return None
    cls = {DRAFT4: "Draft4Validator", DRAFT6: "Draft6Validator", DRAFT7: "Draft7Validator",
           DRAFT2019: "Draft201909Validator", DRAFT2020: "Draft202012Validator"}[draft]
    try:
        # Formats are annotations for python-jsonschema without a format checker; match it.
        return getattr(_rs, cls)(document, validate_formats=False)
    except Exception:  # a regex rs cannot compile, say: the reference validator still works
        return None


def _json_path(parts: list[Any]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{part!r}]"
    return out


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _validator_class(draft: int) -> type[Any]:
    for number, cls in _DRAFTS.values():
        if number == draft:
            return cls
    return jsonschema.Draft7Validator


def parse(document: Any, *, source: str) -> JsonSchemaDoc:
    """Check ``document`` against its metaschema and compile it; SchemaError if unusable."""
    if not isinstance(document, dict | bool):
        raise SchemaError(
            f"{source}: a JSON Schema must be an object or a boolean, not "
            f"{type(document).__name__}",
            hint="wrap the schema in an object such as {\"type\": \"object\", ...}",
            pointer="",
        )
    draft, cls, uri = _detect(document, source)
    _check_metaschema(document, cls, uri, source)
    compiler = Compiler(document, source=source, draft=draft)
    root = compiler.compile_root()
    return JsonSchemaDoc(document=document, source=source, draft=draft, root=root)


def _detect(document: Any, source: str) -> tuple[int, type[Any], str]:
    uri = document.get("$schema") if isinstance(document, dict) else None
    if uri is None:
        return DRAFT7, jsonschema.Draft7Validator, "http://json-schema.org/draft-07/schema#"
    if isinstance(uri, str):
        for marker, (draft, cls) in _DRAFTS.items():
            if marker in uri:
                return draft, cls, uri
    raise SchemaError(
        f"{source}: $schema {uri!r} is not a JSON Schema draft evtool knows",
        hint="use draft-07 (http://json-schema.org/draft-07/schema#), 2019-09 or 2020-12",
        pointer="/$schema",
    )


def _check_metaschema(document: Any, cls: type[Any], uri: str, source: str) -> None:
    if _rs is not None and isinstance(document, dict):
        probe = document if "$schema" in document else {**document, "$schema": uri}
        try:
            if _rs.meta.is_valid(probe):
                return
        except Exception:  # fall back to the reference implementation below
            pass
    try:
        cls.check_schema(document)
    except jsonschema.exceptions.SchemaError as exc:
        pointer = "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in exc.path)
        message = str(exc.message).splitlines()[0]
        raise SchemaError(
            f"{source}: not a valid JSON Schema at {pointer or '/'}: {message}",
            hint="fix the keyword so the schema validates against its draft's metaschema",
            pointer=pointer,
        ) from None


# -- compatibility --------------------------------------------------------------------------


def incompatibilities(reader: JsonSchemaDoc, writer: JsonSchemaDoc) -> list[Incompatibility]:
    """Why ``reader`` cannot accept every event ``writer`` accepts; empty when it can."""
    diffs = Differ().compare(writer.root, reader.root, ())
    if not diffs:
        return []
    out: list[Incompatibility] = []
    seen: set[tuple[str, str, Side, str]] = set()
    builder = writer.builder
    for diff in diffs:
        if not diff.breaking:
            continue
        key = (diff.code, diff.pointer, diff.side, diff.aspect)  # two names required at once: two
        if key in seen:
            continue
        seen.add(key)
        example, reason = _counterexample(diff, reader, writer, builder, diffs)
        out.append(Incompatibility(code=diff.code, pointer=diff.pointer, side=diff.side,
                                   message=diff.message, counterexample=example,
                                   no_counterexample_reason=reason))
    return out


def _counterexample(diff: Diff, reader: JsonSchemaDoc, writer: JsonSchemaDoc,
                    builder: Builder, diffs: list[Diff]) -> tuple[Counterexample | None, str | None]:
    """The first event the writer accepts that the reader rejects *because of* ``diff``.

    Best is an event rejected for that reason alone (the reader's other new requirements
    filled in); next, one rejected for it and for other changes too, which the proof names;
    an event rejected only for other reasons proves nothing about this finding.
    """
    tried = 0
    built = 0
    mixed: tuple[Any, list[Rejection], list[Rejection], tuple[Any, ...]] | None = None
    foreign: list[Rejection] | None = None
    skip = _own_name(diff)
    for path, leaf in candidates(diff, builder):
        if tried >= _MAX_TRIES:
            break
        tried += 1
        try:
            instance = builder.build(writer.root, path, leaf)
        except (GiveUp, KeyError, IndexError, TypeError):
            continue
        if not writer.is_valid(instance):
            continue
        built += 1
        at = instance_path(path)
        variants = [instance]
        filled = fill_required(instance, reader.root, reader.builder, skip)
        if filled != instance and writer.is_valid(filled):
            variants.insert(0, filled)
        for variant in variants:
            if reader.is_valid(variant):
                continue
            rejections = reader.rejections(variant)
            own = [r for r in rejections if _is_own(r, diff, at)]
            if not own:
                foreign = foreign or rejections
                continue
            if len(own) == len(rejections):
                return Counterexample(event=_copy(variant), proof=own[0].text), None
            if mixed is None:
                mixed = (variant, own, [r for r in rejections if r not in own], at)
    if mixed is not None:
        variant, own, rest, at = mixed
        also = "; ".join(_name_other(r, diff, diffs) for r in rest[:2])
        proof = f"{own[0].text} (also rejected for another change of this version: {also})"
        return Counterexample(event=_copy(variant), proof=_one_line(proof)), None
    if foreign is not None:
        also = "; ".join(_name_other(r, diff, diffs) for r in foreign[:2])
        return None, _one_line(
            "every event found that the writer accepts and that reaches this place is "
            f"rejected by the reader for another change of this version first ({also})")
    return None, _no_example_reason(diff, built)


def _copy(instance: Any) -> Any:
    return orjson.loads(dumps(instance))  # a private copy: parts are shared in the memo


def _own_name(diff: Diff) -> tuple[tuple[Any, ...], str] | None:
    """The (instance path, property) a required-like finding is about: left out of the fill."""
    if isinstance(diff.detail, str):
        return instance_path(diff.ipath), diff.detail
    if "required" in diff.code and diff.aspect.startswith("properties/"):
        name = diff.aspect.split("/", 1)[1].replace("~1", "/").replace("~0", "~")
        return instance_path(diff.ipath), name
    return None


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _is_own(rejection: Rejection, diff: Diff, at: tuple[Any, ...]) -> bool:
    """Whether the reader's error is the finding's: at the finding's keyword when the finding
    is placed in the reader, else under its reader node and on the witness's instance path."""
    own = _own_name(diff)
    if (rejection.pointer is not None and own is not None and "required" in diff.code
            and rejection.pointer == f"{diff.rptr}/required/{escape(own[1])}"):
        return True  # a property the reader now requires: its error is the `required` one
    if rejection.pointer is not None and diff.side is Side.READER:
        key = diff.pointer
        if own is not None and key.endswith("/required"):
            key += f"/{escape(own[1])}"
        return _related(rejection.pointer, key)
    if rejection.pointer is not None and not (
        rejection.pointer == diff.rptr or rejection.pointer.startswith(diff.rptr + "/")
    ):
        return False
    n = min(len(rejection.path), len(at))
    return all(b is None or a == b for a, b in zip(rejection.path[:n], at[:n], strict=True))


def _name_other(rejection: Rejection, diff: Diff, diffs: list[Diff]) -> str:
    for other in diffs:
        if other is not diff and other.breaking and _is_own(rejection, other, rejection.path):
            return f"{rejection.text} [{other.code}]"
    return rejection.text


def _no_example_reason(diff: Diff, built: int) -> str:
    w, r = diff.w, diff.r
    if diff.code == "pattern-changed":
        return (f"pattern change: no string found that matches the old pattern {w.pattern!r} "
                f"and not the new one {r.pattern!r}")
    if built == 0:
        return ("could not build an event the writer schema accepts at this place "
                "(unsatisfiable or too intricate writer schema)")
    return (f"every event tried that the writer schema accepts was also accepted by the reader; "
            f"Confluent's STRICT rules still count '{diff.code}' as breaking because it "
            "changes what the schema allows, not just the data seen so far")


def changes(old: JsonSchemaDoc, new: JsonSchemaDoc) -> list[Change]:
    """Every difference from ``old`` to ``new``, each classified in both directions."""
    back = Differ(full=True).compare(old.root, new.root, ())
    fwd = Differ(full=True).compare(new.root, old.root, ())
    merged: dict[tuple[str, str, str], list[Any]] = {}
    order: list[tuple[str, str, str]] = []
    for d in back:
        key = (d.wptr, d.rptr, d.aspect)
        if key not in merged:
            merged[key] = [d, d.breaking, False, False]
            order.append(key)
        else:
            merged[key][1] = merged[key][1] or d.breaking
    for d in fwd:
        key = (d.rptr, d.wptr, d.aspect)  # old is the reader here
        if key not in merged:
            merged[key] = [d, False, d.breaking, True]
            order.append(key)
        else:
            merged[key][2] = merged[key][2] or d.breaking
    out: list[Change] = []
    seen: set[tuple[str, str, Side]] = set()
    for key in order:
        first, b, f, only_forward = merged[key]
        side = first.side
        if only_forward:
            # Found only with new as the writer: flip the side so READER still means "new".
            side = Side.WRITER if side is Side.READER else Side.READER
        ident = (first.code, first.pointer, side)
        if ident in seen:
            continue
        seen.add(ident)
        out.append(Change(code=first.code, pointer=first.pointer, side=side,
                          message=first.message, breaks_backward=b, breaks_forward=f))
    return out
