"""The structural diff of two compiled JSON Schemas, following Confluent's STRICT rules.

``Differ.compare(writer, reader, path)`` is Confluent's ``SchemaDiff.compare(original,
update)``: every difference found is a `Diff` that breaks reading (``breaking``) or does
not. The rules are Confluent's (content models, combined-schema branch matching, keyword by
keyword bounds); where everit's loader gives Confluent a quirk that has nothing to do with
the data (a ``type`` plus an ``enum`` becomes a synthetic ``allOf``), evtool compares the
keywords themselves. Each diff remembers the instance path from the writer's root to the
place it is about, so a counterexample can be built there later.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from evtool.formats.findings import Side
from evtool.formats.jsonschema.model import TRUE_NODE, Node, canonical, escape, json_type

# An instance path step: ("prop", name) | ("idx", i, is_tuple) | ("branch", kind, i)
# | ("extra", name) | ("pattern", regex).
Step = tuple[Any, ...]
IPath = tuple[Step, ...]

_SUM = ("anyOf", "oneOf")
_EXTRA_NAME = "unexpectedProperty"


@dataclass(slots=True)
class Diff:
    code: str
    breaking: bool
    side: Side
    pointer: str
    message: str
    aspect: str  # what the difference is about, the same whichever schema is the reader
    wptr: str
    rptr: str
    ipath: IPath
    w: Node
    r: Node
    hint: str = ""
    detail: Any = None


def human(ipath: IPath, extra: str | None = None) -> str:
    """The instance path as people write it: ``lines[].quantity``, ``method (oneOf #2)``."""
    out = ""
    for step in ipath:
        kind = step[0]
        if kind in ("prop", "extra"):
            out += f".{step[1]}" if out else str(step[1])
        elif kind == "pattern":
            out += f".<{step[1]}>" if out else f"<{step[1]}>"
        elif kind == "idx":
            out += f"[{step[1]}]" if step[2] else "[]"
        elif kind == "branch":
            out += f" ({step[1]} #{step[2]})"
    if extra is not None:
        out = f"{out}.{extra}" if out else extra
    return out or "(root)"


def _types_text(types: frozenset[str] | None) -> str:
    if types is None:
        return "any type"
    return "/".join(sorted(types))


class Differ:
    """One comparison run. ``full`` also collects the differences that break nothing."""

    def __init__(self, *, full: bool = False) -> None:
        self.full = full
        self.memo: dict[tuple[int, int], list[Diff]] = {}
        self.active: set[tuple[int, int]] = set()

    # -- entry ----------------------------------------------------------------------------

    def compare(self, w: Node, r: Node, ip: IPath) -> list[Diff]:
        if w is r or (w.plain and r.plain and w.raw == r.raw):
            return []
        key = (id(w), id(r))
        got = self.memo.get(key)
        if got is not None:
            return got
        if key in self.active:
            return []  # a recursive reference back to a pair in progress: assume it holds
        self.active.add(key)
        try:
            out: list[Diff] = []
            self._node(out, w, r, ip)
        finally:
            self.active.discard(key)
        self.memo[key] = out
        return out

    @staticmethod
    def breaks(diffs: list[Diff]) -> bool:
        return any(d.breaking for d in diffs)

    def _add(self, out: list[Diff], code: str, breaking: bool, side: Side, pointer: str,
             aspect: str, w: Node, r: Node, ip: IPath, message: str, hint: str = "",
             detail: Any = None) -> None:
        if breaking or self.full:
            out.append(Diff(code, breaking, side, pointer, message, aspect, w.ptr, r.ptr, ip,
                            w, r, hint, detail))

    def _r(self, out: list[Diff], code: str, key: str, w: Node, r: Node, ip: IPath, msg: str,
           hint: str = "", detail: Any = None) -> None:
        """A breaking difference located at the reader's keyword ``key``."""
        self._add(out, code, True, Side.READER, f"{r.ptr}/{key}" if key else r.ptr, key, w, r,
                  ip, msg, hint, detail)

    def _ok(self, out: list[Diff], code: str, key: str, w: Node, r: Node, ip: IPath,
            msg: str) -> None:
        """A compatible difference (only kept for `changes`)."""
        if not self.full:
            return
        if key and _has_path(r.raw, key):
            side, ptr = Side.READER, f"{r.ptr}/{key}"
        elif key and _has_path(w.raw, key):
            side, ptr = Side.WRITER, f"{w.ptr}/{key}"
        else:
            side, ptr = Side.READER, r.ptr
        self._add(out, code, False, side, ptr, key, w, r, ip, msg)

    # -- one node -------------------------------------------------------------------------

    def _node(self, out: list[Diff], w: Node, r: Node, ip: IPath) -> None:
        where = human(ip)
        if self.full:
            self._annotations(out, w, r, ip, where)
        if r.is_true:
            if not w.is_true:
                self._ok(out, "type-extended", "", w, r, ip,
                         f"{where}: the new schema accepts any value here")
            return
        if w.is_false:
            return
        if r.is_false:
            self._r(out, "type-changed", "", w, r, ip,
                    f"{where}: the new schema accepts no value here (false)", "any")
            return
        if w.is_true:
            self._r(out, "type-narrowed", "", w, r, ip,
                    f"{where}: the old schema accepted any value here and the new one "
                    "restricts it", "any")
            return

        wpc, rpc = w.pure_combined(), r.pure_combined()
        if wpc is not None and rpc is not None:
            self._combined(out, w, r, wpc[0], wpc[1], rpc[0], rpc[1], ip)
            return
        w_plain = not w.combinators() and w.not_ is None and w.cond is None
        r_plain = not r.combinators() and r.not_ is None and r.cond is None
        if rpc is not None and w_plain:
            kind, branches = rpc
            if len(branches) == 1:
                out.extend(self.compare(w, branches[0], ip))
                return
            if kind in _SUM:
                for branch in branches:
                    sub = self.compare(w, branch, ip)
                    if not self.breaks(sub):
                        if self.full:
                            out.extend(sub)
                        self._ok(out, "sum-type-extended", kind, w, r, ip,
                                 f"{where}: the old schema became one branch of a {kind}")
                        return
                self._r(out, "type-changed", kind, w, r, ip,
                        f"{where}: no branch of the new {kind} accepts what the old schema "
                        "describes", "min")
                return
        if wpc is not None and r_plain:
            kind, branches = wpc
            if len(branches) == 1:
                out.extend(self.compare(branches[0], r, (*ip, ("branch", kind, 0))))
                return
            if kind in _SUM:
                self._add(out, "type-changed", True, Side.WRITER, f"{w.ptr}/{kind}", kind, w,
                          r, ip, f"{where}: the old {kind} of {len(branches)} branches was "
                          "replaced by a single schema", "branches",
                          (kind, list(range(len(branches))), None))
                return

        self._base(out, w, r, ip, where)
        self._combinators(out, w, r, ip, where)
        self._not(out, w, r, ip, where)
        self._cond(out, w, r, ip, where)

    def _annotations(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wa, ra = w.annotations, r.annotations
        if wa == ra:
            return
        for key in sorted({*wa, *ra}):
            if wa.get(key, _NONE) != ra.get(key, _NONE):
                code = {"title": "title-changed", "description": "description-changed",
                        "default": "default-changed", "$id": "id-changed", "id": "id-changed",
                        "format": "format-changed"}.get(key, "annotation-changed")
                self._ok(out, code, key, w, r, ip, f"{where}: {key} changed (an annotation; "
                         "no event changes validity)")

    # -- type, enum, string, number --------------------------------------------------------

    def _base(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wt = w.types
        if w.enum is not None:
            wt = frozenset(json_type(v) for v in w.enum)
        rt = r.types
        if rt is not None:
            cover = wt if wt is not None else _ALL_TYPES
            missing = sorted(t for t in cover
                             if not (t in rt or (t == "integer" and "number" in rt)))
            if missing:
                overlap = any(t in rt or (t == "integer" and "number" in rt)
                              or (t == "number" and "integer" in rt) for t in cover)
                code = "type-narrowed" if overlap else "type-changed"
                self._r(out, code, "type", w, r, ip,
                        f"{where}: the type changed from {_types_text(wt)} to "
                        f"{_types_text(rt)}, so old {'/'.join(missing)} values are rejected",
                        "type", missing)
                if not overlap:
                    return
            elif w.types != rt:
                self._ok(out, "type-extended", "type", w, r, ip,
                         f"{where}: the type widened from {_types_text(w.types)} to "
                         f"{_types_text(rt)}")
        elif w.types is not None:
            self._ok(out, "type-extended", "type", w, r, ip,
                     f"{where}: the type constraint {_types_text(w.types)} was removed")

        self._enum(out, w, r, ip, where)
        if w.allows("string") and r.allows("string"):
            self._bound(out, "maxLength", "max-length", w.max_length, r.max_length, True,
                        w, r, ip, where)
            self._bound(out, "minLength", "min-length", w.min_length, r.min_length, False,
                        w, r, ip, where)
            wp, rp = w.pattern, r.pattern
            if wp != rp:
                if wp is None:
                    self._r(out, "pattern-added", "pattern", w, r, ip,
                            f"{where}: the new schema adds pattern {rp!r}", "pattern")
                elif rp is None:
                    self._ok(out, "pattern-removed", "pattern", w, r, ip,
                             f"{where}: pattern {wp!r} was removed")
                else:
                    self._r(out, "pattern-changed", "pattern", w, r, ip,
                            f"{where}: the pattern changed from {wp!r} to {rp!r}", "pattern")
        if w.allows("number") and r.allows("number"):
            self._bound(out, "maximum", "maximum", w.maximum, r.maximum, True, w, r, ip, where)
            self._bound(out, "minimum", "minimum", w.minimum, r.minimum, False, w, r, ip, where)
            self._bound(out, "exclusiveMaximum", "exclusive-maximum", w.ex_maximum,
                        r.ex_maximum, True, w, r, ip, where)
            self._bound(out, "exclusiveMinimum", "exclusive-minimum", w.ex_minimum,
                        r.ex_minimum, False, w, r, ip, where)
            self._multiple_of(out, w, r, ip, where)
        if w.allows("object") and r.allows("object"):
            self._object(out, w, r, ip, where)
        if w.allows("array") and r.allows("array"):
            self._array(out, w, r, ip, where)

    def _enum(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        rk, wk = r.enum_keys, w.enum_keys
        key = "const" if r.is_const else "enum"
        if rk is not None:
            if wk is None:
                self._r(out, f"{key}-added", key, w, r, ip,
                        f"{where}: the new schema restricts the values to {_values(r.enum)}",
                        "enum")
            elif wk != rk:
                if rk >= wk:
                    self._ok(out, "enum-array-extended", key, w, r, ip,
                             f"{where}: values {_values(_only(r, w))} were added")
                elif wk >= rk:
                    self._r(out, "enum-array-narrowed", key, w, r, ip,
                            f"{where}: values {_values(_only(w, r))} were removed", "enum")
                else:
                    code = "const-changed" if w.is_const and r.is_const else "enum-array-changed"
                    self._r(out, code, key, w, r, ip,
                            f"{where}: the allowed values changed and {_values(_only(w, r))} "
                            "are no longer accepted", "enum")
        elif wk is not None:
            self._ok(out, "enum-removed", "const" if w.is_const else "enum", w, r, ip,
                     f"{where}: the value restriction was removed")

    def _bound(self, out: list[Diff], key: str, base: str, wv: float | None, rv: float | None,
               upper: bool, w: Node, r: Node, ip: IPath, where: str) -> None:
        """An upper (max*) or lower (min*) bound: adding or tightening it breaks reading."""
        if wv == rv:
            return
        if wv is None:
            self._r(out, f"{base}-added", key, w, r, ip,
                    f"{where}: the new schema adds {key} {_num(rv)}", "bound", key)
        elif rv is None:
            self._ok(out, f"{base}-removed", key, w, r, ip, f"{where}: {key} was removed")
        elif (rv < wv) == upper:
            word = "decreased" if upper else "increased"
            self._r(out, f"{base}-{word}", key, w, r, ip,
                    f"{where}: {key} {word} from {_num(wv)} to {_num(rv)}", "bound", key)
        else:
            word = "increased" if upper else "decreased"
            self._ok(out, f"{base}-{word}", key, w, r, ip,
                     f"{where}: {key} {word} from {_num(wv)} to {_num(rv)}")

    def _multiple_of(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wv, rv = w.multiple_of, r.multiple_of
        if wv == rv:
            return
        if wv is None:
            self._r(out, "multiple-of-added", "multipleOf", w, r, ip,
                    f"{where}: the new schema requires a multiple of {_num(rv)}", "multiple")
        elif rv is None:
            self._ok(out, "multiple-of-removed", "multipleOf", w, r, ip,
                     f"{where}: multipleOf was removed")
        elif (Fraction(str(wv)) / Fraction(str(rv))).denominator == 1:
            self._ok(out, "multiple-of-reduced", "multipleOf", w, r, ip,
                     f"{where}: multipleOf {_num(wv)} became {_num(rv)}, a divisor")
        else:
            expanded = (Fraction(str(rv)) / Fraction(str(wv))).denominator == 1
            self._r(out, "multiple-of-expanded" if expanded else "multiple-of-changed",
                    "multipleOf", w, r, ip,
                    f"{where}: multipleOf changed from {_num(wv)} to {_num(rv)}", "multiple")

    # -- objects --------------------------------------------------------------------------

    def _object(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wprops, rprops = w.properties, r.properties
        # required, for properties both schemas declare (Confluent's compareRequired)
        if w.required != r.required:
            for name in wprops:
                if name not in rprops:
                    continue
                wreq, rreq = name in w.required, name in r.required
                if rreq and not wreq:
                    if rprops[name].has_default:
                        self._ok(out, "required-attribute-with-default-added",
                                 f"required/{escape(name)}", w, r, ip,
                                 f"{human(ip, name)} became required, with a default")
                    else:
                        self._req(out, "required-attribute-added", name, w, r, ip,
                                  f"{human(ip, name)} became required and old events may "
                                  "lack it")
                elif wreq and not rreq:
                    self._ok(out, "required-attribute-removed", f"required/{escape(name)}", w,
                             r, ip, f"{human(ip, name)} is no longer required")
            for name in sorted(r.required - w.required):
                if name not in rprops and name not in wprops:
                    self._req(out, "required-attribute-added", name, w, r, ip,
                              f"{human(ip, name)} became required and old events may lack it")

        w_open, r_open = w.is_open(), r.is_open()
        for name, wp in wprops.items():
            rp = rprops.get(name)
            if rp is not None:
                if wp is rp or (wp.plain and rp.plain and wp.raw == rp.raw):
                    continue
                out.extend(self.compare(wp, rp, (*ip, ("prop", name))))
                continue
            sub_ip = (*ip, ("prop", name))
            aspect = f"properties/{escape(name)}"
            ptr = f"{w.ptr}/properties/{escape(name)}"
            path = human(ip, name)
            if r_open:
                self._ok(out, "property-removed-from-open-content-model", aspect, w, r, ip,
                         f"{path} was removed; the open content model still accepts it")
                continue
            ps = r.partial(name)
            if ps is not None:
                sub = self.compare(wp, ps, sub_ip)
                if self.breaks(sub):
                    out.extend(sub)
                    self._add(out, "property-removed-not-covered-by-partially-open-content-model",
                              True, Side.WRITER, ptr, aspect, w, r, ip,
                              f"{path} was removed and the new schema's additionalProperties/"
                              "patternProperties reject the values old events carry there",
                              "prop", name)
                else:
                    if self.full:
                        out.extend(sub)
                    self._ok(out, "property-removed-is-covered-by-partially-open-content-model",
                             aspect, w, r, ip,
                             f"{path} was removed and additionalProperties still accepts it")
            elif wp.is_false:
                self._ok(out, "property-with-false-removed-from-closed-content-model", aspect,
                         w, r, ip, f"{path}, which no event could carry, was removed")
            else:
                self._add(out, "property-removed-from-closed-content-model", True,
                          Side.WRITER, ptr, aspect, w, r, ip,
                          f"{path} was removed from a closed content model, so old events that "
                          "carry it are rejected", "prop", name)
        if len(rprops) <= len(wprops) and all(name in wprops for name in rprops):
            rprops = {}
        for name, rp in rprops.items():
            if name in wprops:
                continue
            aspect = f"properties/{escape(name)}"
            path = human(ip, name)
            sub_ip = (*ip, ("prop", name))
            required = name in r.required
            if w_open:
                if rp.is_true:
                    self._ok(out, "property-with-empty-schema-added-to-open-content-model",
                             aspect, w, r, ip, f"{path} was added with an empty schema")
                    if required and not rp.has_default:
                        self._req(out, "required-attribute-added", name, w, r, ip,
                                  f"{path} became required and old events may lack it")
                else:
                    self._r(out, "property-added-to-open-content-model", aspect, w, r, ip,
                            f"{path} was added to an open content model: old events may "
                            f"already carry '{name}' with a value the new schema rejects",
                            "prop-any", name)
                continue
            ps = w.partial(name)
            if ps is not None:
                sub = self.compare(ps, rp, sub_ip)
                if self.breaks(sub):
                    out.extend(sub)
                    self._r(out, "property-added-not-covered-by-partially-open-content-model",
                            aspect, w, r, ip,
                            f"{path} was added, but old events may carry '{name}' with values "
                            "the old additionalProperties/patternProperties allowed and the new "
                            "schema rejects", "prop-any", name)
                else:
                    if self.full:
                        out.extend(sub)
                    self._ok(out, "property-added-is-covered-by-partially-open-content-model",
                             aspect, w, r, ip, f"{path} was added within what the old "
                             "additionalProperties allowed")
            if required:
                if rp.has_default:
                    self._ok(out, "required-property-with-default-added-to-unopen-content-model",
                             aspect, w, r, ip, f"required {path} was added with a default")
                else:
                    self._r(out, "required-property-added-to-unopen-content-model", aspect, w,
                            r, ip, f"required {path} was added without a default, and old "
                            "events do not carry it", "min")
            else:
                self._ok(out, "optional-property-added-to-unopen-content-model", aspect, w, r,
                         ip, f"optional {path} was added")

        if w.pattern_props or r.pattern_props:
            self._pattern_props(out, w, r, ip, where, w_open, r_open)
        if w.dep_required or r.dep_required or w.dep_schemas or r.dep_schemas:
            self._dependencies(out, w, r, ip, where)
        if w.additional is not r.additional:
            self._additional(out, w, r, ip, where)
        if w.max_props != r.max_props:
            self._bound(out, "maxProperties", "max-properties", w.max_props, r.max_props, True,
                        w, r, ip, where)
        if w.min_props != r.min_props:
            self._bound(out, "minProperties", "min-properties", w.min_props, r.min_props,
                        False, w, r, ip, where)
        if w.property_names is not r.property_names:
            self._sub_keyword(out, "propertyNames", "property-names", w.property_names,
                              r.property_names, w, r, ip, where)
        if w.unevaluated is not r.unevaluated:
            self._sub_keyword(out, "unevaluatedProperties", "unevaluated-properties",
                              w.unevaluated, r.unevaluated, w, r, ip, where)

    def _req(self, out: list[Diff], code: str, name: str, w: Node, r: Node, ip: IPath,
             msg: str) -> None:
        self._r(out, code, f"required/{escape(name)}", w, r, ip, msg, "min", name)
        # The pointer names the required list itself; the aspect names the property.
        if out and out[-1].code == code:
            out[-1].pointer = f"{r.ptr}/required"

    def _pattern_props(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str,
                       w_open: bool, r_open: bool) -> None:
        if not w.pattern_props and not r.pattern_props:
            return
        for regex, wps in w.pattern_props.items():
            rps = r.pattern_props.get(regex)
            aspect = f"patternProperties/{escape(regex)}"
            if rps is not None:
                out.extend(self.compare(wps, rps, (*ip, ("pattern", regex))))
            elif r_open:
                self._ok(out, "pattern-property-removed", aspect, w, r, ip,
                         f"{where}: patternProperties {regex!r} was removed")
            elif r.additional is not None and not r.additional.is_false:
                sub = self.compare(wps, r.additional, (*ip, ("pattern", regex)))
                out.extend(d for d in sub if d.breaking or self.full)
            elif not wps.is_false:
                self._add(out, "pattern-property-removed-from-closed-content-model", True,
                          Side.WRITER, f"{w.ptr}/{aspect}", aspect, w, r, ip,
                          f"{where}: properties matching {regex!r} were allowed and the new "
                          "closed content model rejects them", "pattern", regex)
        for regex, rps in r.pattern_props.items():
            if regex in w.pattern_props:
                continue
            aspect = f"patternProperties/{escape(regex)}"
            closed = w.additional is not None and w.additional.is_false
            if closed or rps.is_true:
                self._ok(out, "pattern-property-added", aspect, w, r, ip,
                         f"{where}: patternProperties {regex!r} was added")
            else:
                self._r(out, "pattern-property-added", aspect, w, r, ip,
                        f"{where}: patternProperties {regex!r} was added, and old events may "
                        "carry matching properties the new schema rejects", "pattern-any", regex)

    def _dependencies(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        if w.dep_required != r.dep_required:
            for name in sorted({*w.dep_required, *r.dep_required}):
                wd, rd = w.dep_required.get(name), r.dep_required.get(name)
                aspect = f"dependencies/{escape(name)}"
                if wd == rd:
                    continue
                if rd is None:
                    self._ok(out, "dependency-array-removed", aspect, w, r, ip,
                             f"{where}: the dependency of '{name}' was removed")
                elif wd is None:
                    self._r(out, "dependency-array-added", _dep_key(r, name), w, r, ip,
                            f"{where}: '{name}' now requires {sorted(rd)}", "dep", name)
                elif rd > wd:
                    self._r(out, "dependency-array-extended", _dep_key(r, name), w, r, ip,
                            f"{where}: '{name}' now also requires {sorted(rd - wd)}", "dep",
                            name)
                elif rd < wd:
                    self._ok(out, "dependency-array-narrowed", aspect, w, r, ip,
                             f"{where}: '{name}' requires fewer properties")
                else:
                    self._r(out, "dependency-array-changed", _dep_key(r, name), w, r, ip,
                            f"{where}: the properties '{name}' requires changed", "dep", name)
        for name in sorted({*w.dep_schemas, *r.dep_schemas}):
            ws, rs = w.dep_schemas.get(name), r.dep_schemas.get(name)
            if rs is None:
                self._ok(out, "dependency-schema-removed", f"dependencies/{escape(name)}", w, r,
                         ip, f"{where}: the dependent schema of '{name}' was removed")
            elif ws is None:
                self._r(out, "dependency-schema-added", _dep_key(r, name), w, r, ip,
                        f"{where}: a dependent schema for '{name}' was added", "dep", name)
            else:
                out.extend(self.compare(ws, rs, ip))

    def _additional(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wa, ra = w.additional, r.additional
        if wa is ra:
            return
        w_perm = wa is None or not wa.is_false
        r_perm = ra is None or not ra.is_false
        key = "additionalProperties"
        if w_perm != r_perm:
            if r_perm:
                self._ok(out, "additional-properties-added", key, w, r, ip,
                         f"{where}: the content model was opened")
            else:
                self._r(out, "additional-properties-removed", key, w, r, ip,
                        f"{where}: the content model was closed, so old events with "
                        "properties it does not list are rejected", "extra")
        elif wa is None and ra is not None:
            self._r(out, "additional-properties-narrowed", key, w, r, ip,
                    f"{where}: additionalProperties now restricts the values of unlisted "
                    "properties", "extra")
        elif ra is None and wa is not None:
            self._ok(out, "additional-properties-extended", key, w, r, ip,
                     f"{where}: additionalProperties no longer restricts unlisted properties")
        elif wa is not None and ra is not None and w_perm:
            out.extend(self.compare(wa, ra, (*ip, ("extra", _extra_name(w, r)))))

    def _sub_keyword(self, out: list[Diff], key: str, base: str, ws: Node | None,
                     rs: Node | None, w: Node, r: Node, ip: IPath, where: str) -> None:
        if ws is rs:
            return
        if rs is None or rs.is_true:
            if ws is not None and not ws.is_true:
                self._ok(out, f"{base}-removed", key, w, r, ip, f"{where}: {key} was removed")
        elif ws is None:
            self._r(out, f"{base}-added", key, w, r, ip, f"{where}: {key} was added", "min")
        else:
            sub = self.compare(ws, rs, ip)
            if self.breaks(sub):
                self._r(out, f"{base}-narrowed", key, w, r, ip,
                        f"{where}: {key} now rejects what it accepted", "min")
            elif self.full:
                out.extend(sub)

    # -- arrays ---------------------------------------------------------------------------

    def _array(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wpre, rpre = w.prefix, r.prefix
        tup = bool(wpre or rpre)
        if wpre or rpre:
            wkey = "prefixItems" if _has(w.raw, "prefixItems") else "items"
            rkey = "prefixItems" if _has(r.raw, "prefixItems") else "items"
            for i in range(min(len(wpre), len(rpre))):
                out.extend(self.compare(wpre[i], rpre[i], (*ip, ("idx", i, True))))
            w_open, r_open = w.rest is None, r.rest is None
            for i in range(len(rpre), len(wpre)):
                aspect = f"items/{i}"
                path = f"{where}[{i}]"
                if r_open:
                    self._ok(out, "item-removed-from-open-content-model", aspect, w, r, ip,
                             f"{path}: the tuple item was removed; the open model still "
                             "accepts it")
                elif not r.rest.is_false:  # type: ignore[union-attr]
                    sub = self.compare(wpre[i], r.rest, (*ip, ("idx", i, True)))  # type: ignore[arg-type]
                    if self.breaks(sub):
                        out.extend(sub)
                        self._add(out, "item-removed-not-covered-by-partially-open-content-model",
                                  True, Side.WRITER, f"{w.ptr}/{wkey}/{i}", aspect, w, r, ip,
                                  f"{path}: the tuple item was removed and the new additional "
                                  "items schema rejects it", "idx", i)
                    else:
                        self._ok(out, "item-removed-is-covered-by-partially-open-content-model",
                                 aspect, w, r, ip, f"{path}: the tuple item was removed")
                elif wpre[i].is_false:
                    self._ok(out, "item-with-false-removed-from-closed-content-model", aspect, w,
                             r, ip, f"{path}: an item no event could carry was removed")
                else:
                    self._add(out, "item-removed-from-closed-content-model", True, Side.WRITER,
                              f"{w.ptr}/{wkey}/{i}", aspect, w, r, ip,
                              f"{path}: the tuple item was removed from a closed tuple, so old "
                              "events with it are rejected", "idx", i)
            for i in range(len(wpre), len(rpre)):
                aspect = f"items/{i}"
                path = f"{where}[{i}]"
                if w_open:
                    if rpre[i].is_true:
                        self._ok(out, "item-with-empty-schema-added-to-open-content-model",
                                 aspect, w, r, ip, f"{path}: an unconstrained item was added")
                    else:
                        self._r(out, "item-added-to-open-content-model", f"{rkey}/{i}", w, r,
                                ip, f"{path}: a tuple item was added to an open tuple, and old "
                                "events may carry any value there", "idx-any", i)
                elif not w.rest.is_false:  # type: ignore[union-attr]
                    sub = self.compare(w.rest, rpre[i], (*ip, ("idx", i, True)))  # type: ignore[arg-type]
                    if self.breaks(sub):
                        out.extend(sub)
                        self._r(out, "item-added-not-covered-by-partially-open-content-model",
                                f"{rkey}/{i}", w, r, ip, f"{path}: the added tuple item rejects "
                                "values the old additional items schema allowed", "idx-any", i)
                    else:
                        self._ok(out, "item-added-is-covered-by-partially-open-content-model",
                                 aspect, w, r, ip, f"{path}: a tuple item was added")
                else:
                    self._ok(out, "item-added-to-closed-content-model", aspect, w, r, ip,
                             f"{path}: a tuple item was added to a closed tuple")
        self._rest(out, w, r, ip, where, tup)
        self._bound(out, "maxItems", "max-items", w.max_items, r.max_items, True, w, r, ip,
                    where)
        self._bound(out, "minItems", "min-items", w.min_items, r.min_items, False, w, r, ip,
                    where)
        if w.unique != r.unique:
            if r.unique:
                self._r(out, "unique-items-added", "uniqueItems", w, r, ip,
                        f"{where}: items must now be unique", "unique")
            else:
                self._ok(out, "unique-items-removed", "uniqueItems", w, r, ip,
                         f"{where}: items no longer need to be unique")
        self._sub_keyword(out, "contains", "contains", w.contains, r.contains, w, r, ip, where)
        self._bound(out, "maxContains", "max-contains", w.max_contains, r.max_contains, True,
                    w, r, ip, where)
        self._bound(out, "minContains", "min-contains", w.min_contains, r.min_contains, False,
                    w, r, ip, where)

    def _rest(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str,
              tup: bool) -> None:
        wa, ra = w.rest, r.rest
        if wa is ra:
            return
        rkey = "prefixItems" if _has(r.raw, "prefixItems") else None
        key = "items" if (rkey or not tup) else "additionalItems"
        if not _has(r.raw, key) and _has(r.raw, "additionalItems"):
            key = "additionalItems"
        if not _has(r.raw, key) and _has(r.raw, "unevaluatedItems"):
            key = "unevaluatedItems"
        base = "items" if not tup else "additional-items"
        w_perm = wa is None or not wa.is_false
        r_perm = ra is None or not ra.is_false
        idx = max(len(w.prefix), len(r.prefix))
        if w_perm != r_perm:
            if r_perm:
                self._ok(out, f"{base}-added" if tup else "items-extended", key, w, r, ip,
                         f"{where}: more items are now allowed")
            else:
                self._r(out, f"{base}-removed", key, w, r, ip,
                        f"{where}: items beyond the tuple are no longer allowed", "idx-w", idx)
        elif wa is None and ra is not None:
            self._r(out, f"{base}-narrowed", key, w, r, ip,
                    f"{where}: the items schema now restricts items the old schema left open",
                    "idx-any", idx)
        elif ra is None and wa is not None:
            self._ok(out, f"{base}-extended", key, w, r, ip,
                     f"{where}: the items schema no longer restricts items")
        elif wa is not None and ra is not None and w_perm:
            out.extend(self.compare(wa, ra, (*ip, ("idx", idx, tup))))

    # -- combinators, not, if -------------------------------------------------------------

    def _combinators(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wc, rc = dict(w.combinators()), dict(r.combinators())
        if not wc and not rc:
            return
        for kind in [k for k in wc if k in rc]:
            self._combined(out, w, r, kind, wc[kind], kind, rc[kind], ip)
        w_only = [k for k in wc if k not in rc]
        r_only = [k for k in rc if k not in wc]
        if len(w_only) == 1 and len(r_only) == 1:
            self._combined(out, w, r, w_only[0], wc[w_only[0]], r_only[0], rc[r_only[0]], ip)
            return
        for kind in r_only:
            self._r(out, "product-type-extended", kind, w, r, ip,
                    f"{where}: the new schema adds a {kind} constraint", "min")
        for kind in w_only:
            self._ok(out, "product-type-narrowed", kind, w, r, ip,
                     f"{where}: the {kind} constraint was removed")

    def _combined(self, out: list[Diff], w: Node, r: Node, wkind: str,
                  wb: tuple[Node, ...], rkind: str, rb: tuple[Node, ...], ip: IPath) -> None:
        """Confluent's CombinedSchemaDiff: criteria, sizes, then a maximum branch matching."""
        where = human(ip)
        aspect = "|".join(sorted({wkind, rkind}))
        if wkind != rkind:
            if rkind == "anyOf" or (rkind == "oneOf" and len(wb) == 1) or (
                rkind == "allOf" and len(wb) == 1 and len(rb) == 1
            ) or (wkind == "allOf" and len(rb) == 1):  # one branch left: any combinator means it
                self._ok(out, "combined-type-extended", rkind, w, r, ip,
                         f"{where}: {wkind} became {rkind}")
            else:
                self._r(out, "combined-type-changed", rkind, w, r, ip,
                        f"{where}: {wkind} became {rkind}, which accepts less", "branches",
                        (wkind, list(range(len(wb))), None))
                return
        wi, ri = _dedupe(wb), _dedupe(rb)
        n, m = len(wi), len(ri)
        if m > n:
            if rkind == "allOf":
                self._r(out, "product-type-extended", rkind, w, r, ip,
                        f"{where}: the allOf gained a subschema every event must now match",
                        "min")
            else:
                self._ok(out, "sum-type-extended", rkind, w, r, ip,
                         f"{where}: the {rkind} gained a branch")
        elif m < n and "allOf" in (rkind, wkind):
            # judged from the old schema's combinator: dropping allOf subschemas only accepts more
            self._ok(out, "product-type-narrowed", rkind, w, r, ip,
                     f"{where}: the allOf lost a subschema")
        edges: dict[int, dict[int, list[Diff]]] = {}
        trials: dict[tuple[int, int], list[Diff]] = {}
        for i in wi:
            edges[i] = {}
            for j in ri:
                sub = self.compare(wb[i], rb[j], (*ip, ("branch", wkind, i)))
                trials[(i, j)] = sub
                if not self.breaks(sub):
                    edges[i][j] = sub
        match = _max_matching(wi, edges)
        if self.full:
            for j, i in match.items():
                out.extend(edges[i][j])
        unmatched = [i for i in wi if i not in match.values()]
        if m < n and rkind != "allOf" and wkind != "allOf":
            self._r(out, "sum-type-narrowed", rkind, w, r, ip,
                    f"{where}: the {rkind} lost {n - m} branch(es), so old events written "
                    "with them are rejected", "branches", (wkind, unmatched, None))
        if len(match) < min(n, m):
            reason = ""
            first: Diff | None = None
            ptr = f"{r.ptr}/{rkind}"
            side = Side.READER
            if unmatched:
                i = unmatched[0]
                free = [j for j in ri if j not in match] or ri
                best = min((trials[(i, j)] for j in free),
                           key=lambda s: sum(1 for d in s if d.breaking))
                first = next((d for d in best if d.breaking), None)
                if first is not None:
                    reason = f": {first.message}"
                    ptr, side = first.pointer, first.side
            self._add(out, "combined-type-subschemas-changed", True, side, ptr, aspect, w, r,
                      ip, f"{where}: {wkind} branch #{unmatched[0] if unmatched else 0} of the "
                      f"old schema matches no branch of the new {rkind}{reason}", "branches",
                      (wkind, unmatched, first))

    def _not(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wn, rn = w.not_, r.not_
        if wn is None and rn is None:
            return
        if rn is None:
            self._ok(out, "not-type-removed", "not", w, r, ip, f"{where}: 'not' was removed")
        elif wn is None:
            self._r(out, "not-type-added", "not", w, r, ip,
                    f"{where}: the new schema adds a 'not' that rejects some old values", "not")
        else:
            sub = self.compare(rn, wn, ())  # reversed: the new 'not' must exclude less
            if self.breaks(sub):
                self._r(out, "not-type-extended", "not", w, r, ip,
                        f"{where}: the new 'not' excludes values the old one allowed", "not")
            else:
                self._ok(out, "not-type-narrowed", "not", w, r, ip,
                         f"{where}: the 'not' excludes fewer values")

    def _cond(self, out: list[Diff], w: Node, r: Node, ip: IPath, where: str) -> None:
        wc, rc = w.cond, r.cond
        if wc is None and rc is None:
            return
        if rc is None:
            self._ok(out, "conditional-removed", "if", w, r, ip,
                     f"{where}: the if/then/else was removed")
            return
        if wc is None:
            self._r(out, "conditional-added", "if", w, r, ip,
                    f"{where}: the new schema adds an if/then/else", "min")
            return
        wif, rif = wc[0] or TRUE_NODE, rc[0] or TRUE_NODE
        same_if = wif is rif or (not self.breaks(self.compare(wif, rif, ()))
                                 and not self.breaks(self.compare(rif, wif, ())))
        if not same_if:
            self._r(out, "conditional-changed", "if", w, r, ip,
                    f"{where}: the 'if' condition changed", "min")
            return
        for k in (1, 2):
            out.extend(self.compare(wc[k] or TRUE_NODE, rc[k] or TRUE_NODE, ip))


_NONE = object()
_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string"})


def _has(raw: Any, key: str) -> bool:
    return isinstance(raw, dict) and key in raw


def _has_path(raw: Any, key: str) -> bool:
    for raw_token in key.split("/"):
        token = raw_token.replace("~1", "/").replace("~0", "~")
        if isinstance(raw, dict) and token in raw:
            raw = raw[token]
        elif isinstance(raw, list) and token.isdigit() and int(token) < len(raw):
            raw = raw[int(token)]
        else:
            return False
    return True


def _dep_key(node: Node, name: str) -> str:
    for container in ("dependencies", "dependentRequired", "dependentSchemas"):
        deps = node.raw.get(container) if isinstance(node.raw, dict) else None
        if isinstance(deps, dict) and name in deps:
            return f"{container}/{escape(name)}"
    return f"dependencies/{escape(name)}"


def _extra_name(w: Node, r: Node) -> str:
    name = _EXTRA_NAME
    while name in w.properties or name in r.properties:
        name += "_"
    return name


def _dedupe(branches: tuple[Node, ...]) -> list[int]:
    """Indexes of the distinct branches (Confluent collapses duplicates)."""
    seen: set[Any] = set()
    keep: list[int] = []
    for i, b in enumerate(branches):
        if b.plain:
            key = canonical(b.raw)
            if key in seen:
                continue
            seen.add(key)
        keep.append(i)
    return keep


def _max_matching(left: list[int], edges: dict[int, dict[int, list[Diff]]]) -> dict[int, int]:
    """Maximum bipartite matching (augmenting paths); returns right -> left."""
    match: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in match or augment(match[j], seen):
                match[j] = i
                return True
        return False

    for i in left:
        augment(i, set())
    return match


def _only(a: Node, b: Node) -> list[Any]:
    bk = b.enum_keys or frozenset()
    return [v for v in (a.enum or ()) if canonical(v) not in bk]


def _values(values: Any) -> str:
    items = list(values or ())
    text = ", ".join(repr(v) for v in items[:6])
    return f"[{text}{', …' if len(items) > 6 else ''}]"


def _num(value: float | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
