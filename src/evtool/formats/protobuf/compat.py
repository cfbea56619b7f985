"""Protobuf compatibility with Confluent Schema Registry's semantics, rebuilt from its documented
behaviour (its code is under the Confluent Community License; none is used here).

`diff(original, update)` lists differences of 26 kinds; a BACKWARD check is `diff(writer=old,
reader=new)` and fails on any failing kind; FORWARD is the same with the versions swapped (so
adding a message fails FORWARD). Fields are matched by number; messages by full name (so moving a
message in the file is no difference). `reserved` is not read, as in Confluent.

Failing kinds: package-changed, message-removed, field-kind-changed (scalar / message / map; enums
count as scalars), field-scalar-kind-changed (across the groups below), field-named-type-changed,
field-numeric-label-changed (optional ↔ repeated of a numeric scalar, only where both labels are
written), required-field-added, required-field-removed (proto2), oneof-field-removed (unless the
whole oneof went), multiple-fields-moved-to-oneof, field-moved-to-existing-oneof.

Passing kinds: message-added, message-moved, enum-added, enum-removed, enum-constant-added,
enum-constant-renamed, enum-constant-removed, field-added, field-removed, field-renamed,
field-scalar-kind-changed-within-group, field-string-or-bytes-label-changed, oneof-added,
oneof-removed, oneof-field-added, oneof-field-moved-to-top-level.

Scalar groups inside which a change passes: {int32, int64, uint32, uint64, bool, enum},
{sint32, sint64}, {string, bytes}, {fixed32, sfixed32}, {fixed64, sfixed64}, {float}, {double}.

Beyond the registry (`lossy_changes`): changes it accepts that silently change data — a number
truncated or its sign flipped, an int read as bool, a repeated field read as singular (only the
last value kept), a field number reused for a different field — each proven by encoding an
event with the writer and decoding it with the reader. `schema check` shows them as warnings;
`--strict` fails on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evtool.formats.findings import Change, Counterexample, Incompatibility, Side
from evtool.formats.protobuf import witness
from evtool.formats.protobuf.model import ProtoField, ProtoMessage, ProtoSchema

_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"int32", "int64", "uint32", "uint64", "bool", "enum"}),
    frozenset({"sint32", "sint64"}),
    frozenset({"string", "bytes"}),
    frozenset({"fixed32", "sfixed32"}),
    frozenset({"fixed64", "sfixed64"}),
    frozenset({"float"}),
    frozenset({"double"}),
)
_GROUP_OF = {kind: group for group in _GROUPS for kind in group}
_NUMERIC = frozenset(_GROUP_OF) - {"string", "bytes"}

FAILING = frozenset(
    {
        "package-changed",
        "message-removed",
        "field-kind-changed",
        "field-scalar-kind-changed",
        "field-named-type-changed",
        "field-numeric-label-changed",
        "required-field-added",
        "required-field-removed",
        "oneof-field-removed",
        "multiple-fields-moved-to-oneof",
        "field-moved-to-existing-oneof",
    }
)


@dataclass(frozen=True, slots=True)
class Difference:
    code: str
    pointer: str
    side: Side  # WRITER: points into `original`; READER: into `update`
    message: str
    message_name: str = ""  # the message the difference is in ("" for file-level ones)
    number: int = 0  # the field number, 0 when not about one field
    lossy: str = ""  # why a passing change still loses data ("" when it does not)

    @property
    def fails(self) -> bool:
        return self.code in FAILING


def _ptr(message: str, number: int | None = None) -> str:
    return f"/{message}" if number is None else f"/{message}/{number}"


def diff(original: ProtoSchema, update: ProtoSchema) -> list[Difference]:
    """Every difference from `original` (the writer, for BACKWARD) to `update` (the reader);
    remembered per pair, since the check asks for failures and for lossy changes separately."""
    memo: dict[int, list[Difference]] = original.extra.setdefault("diffs", {})
    found = memo.get(id(update))
    if found is None:
        found = memo[id(update)] = _diff(original, update)
    return found


def _diff(original: ProtoSchema, update: ProtoSchema) -> list[Difference]:
    out: list[Difference] = []
    if original.package != update.package:
        out.append(
            Difference(
                "package-changed",
                "",
                Side.READER,
                f"package changed from {original.package or '(none)'!r} to {update.package or '(none)'!r}: "
                "every message's full name changes",
            )
        )
    # messages match by their name inside the package, so a package change is one difference
    old_messages, new_messages = _relative(original), _relative(update)
    for rel, old in old_messages.items():
        new = new_messages.get(rel)
        if new is not None and new.fields == old.fields and new.oneofs == old.oneofs:
            continue  # the common case: this message did not change
        if new is None:
            if not old.map_entry:
                out.append(Difference("message-removed", _ptr(old.full_name), Side.WRITER,
                                      f"message {old.full_name} was removed", old.full_name))
            continue
        _fields(old, new, out, original.package, update.package)
    out.extend(
        Difference("message-added", _ptr(new.full_name), Side.READER, f"message {new.full_name} was added",
                   new.full_name)
        for rel, new in new_messages.items()
        if rel not in old_messages and not new.map_entry
    )
    _enums(original, update, out)
    return out


def _relative(schema: ProtoSchema) -> dict[str, ProtoMessage]:
    """Messages by their name inside the package; kept, as every pair of the version asks."""
    found: dict[str, ProtoMessage] | None = schema.extra.get("relative")
    if found is None:
        cut = len(schema.package) + 1 if schema.package else 0
        found = schema.extra["relative"] = {name[cut:]: message for name, message in schema.messages.items()}
    return found


def _strip(type_name: str, package: str) -> str:
    return type_name[len(package) + 1 :] if package and type_name.startswith(package + ".") else type_name


def _fields(old: ProtoMessage, new: ProtoMessage, out: list[Difference], old_pkg: str, new_pkg: str) -> None:
    name = new.full_name
    for oneof in new.oneofs.keys() - old.oneofs.keys():
        out.append(
            Difference("oneof-added", _ptr(name), Side.READER, f"oneof {name}.{oneof} was added", name)
        )
    for oneof in old.oneofs.keys() - new.oneofs.keys():
        out.append(
            Difference("oneof-removed", _ptr(name), Side.WRITER, f"oneof {name}.{oneof} was removed", name)
        )
    moved_into: dict[str, list[int]] = {}
    new_fields = new.fields
    for number, was in old.fields.items():
        now = new_fields.get(number)
        if now == was:
            continue
        where = f"field {name}.{was.name} ({number})"
        if now is None:
            if was.label == "required":
                out.append(
                    Difference(
                        "required-field-removed",
                        _ptr(name, number),
                        Side.WRITER,
                        f"required {where} was removed",
                        name,
                        number,
                    )
                )
            elif was.oneof is not None and was.oneof in new.oneofs:
                out.append(
                    Difference(
                        "oneof-field-removed",
                        _ptr(name, number),
                        Side.WRITER,
                        f"{where} was removed from oneof {was.oneof}",
                        name,
                        number,
                    )
                )
            else:
                out.append(
                    Difference(
                        "field-removed", _ptr(name, number), Side.WRITER, f"{where} was removed", name, number
                    )
                )
            continue
        _field(name, was, now, out, old_pkg, new_pkg)
        if was.oneof is None and now.oneof is not None:
            if now.oneof in old.oneofs:
                out.append(
                    Difference(
                        "field-moved-to-existing-oneof",
                        _ptr(name, number),
                        Side.READER,
                        f"{where} moved into the existing oneof {now.oneof}",
                        name,
                        number,
                    )
                )
            else:
                moved_into.setdefault(now.oneof, []).append(number)
        elif was.oneof is not None and now.oneof is None:
            out.append(
                Difference(
                    "oneof-field-moved-to-top-level",
                    _ptr(name, number),
                    Side.READER,
                    f"{where} moved out of oneof {was.oneof}",
                    name,
                    number,
                )
            )
    for oneof, numbers in moved_into.items():
        if len(numbers) > 1:
            listed = ", ".join(f"{new.fields[n].name} ({n})" for n in numbers)
            out.append(
                Difference(
                    "multiple-fields-moved-to-oneof",
                    _ptr(name, numbers[0]),
                    Side.READER,
                    f"fields {listed} of {name} moved into one new oneof {oneof}: "
                    "data that set several of them keeps only one",
                    name,
                    numbers[0],
                )
            )
    for number, now in new.fields.items():
        if number in old.fields:
            continue
        where = f"field {name}.{now.name} ({number})"
        if now.label == "required":
            code, text = "required-field-added", f"required {where} was added"
        elif now.oneof is not None:
            code, text = "oneof-field-added", f"{where} was added to oneof {now.oneof}"
        else:
            code, text = "field-added", f"{where} was added"
        out.append(Difference(code, _ptr(name, number), Side.READER, text, name, number))


def _field(
    name: str, was: ProtoField, now: ProtoField, out: list[Difference], old_pkg: str, new_pkg: str
) -> None:
    number = was.number
    where = f"field {name}.{now.name} ({number})"
    pointer = _ptr(name, number)

    def add(code: str, text: str, lossy: str = "") -> None:
        out.append(Difference(code, pointer, Side.READER, text, name, number, lossy))

    if was.name != now.name:
        same_type = (was.kind, was.type, was.type_name) == (now.kind, now.type, now.type_name)
        reuse = (
            ""
            if same_type
            else (
                f"field number {number} was {was.describe()} and is now {now.describe()}: data written "
                "into the old field is read into the new one (reserve deleted numbers instead)"
            )
        )
        add("field-renamed", f"field {name}.{was.name} ({number}) renamed to {now.name}", reuse)
    if was.kind != now.kind:
        add("field-kind-changed", f"{where} changed kind from {was.kind} {was.type} to {now.kind} {now.type}")
        return
    if was.kind == "scalar" and was.type != now.type:
        if _GROUP_OF[was.type] is _GROUP_OF[now.type]:
            add(
                "field-scalar-kind-changed-within-group",
                f"{where} changed from {was.type} to {now.type} (same wire group)",
                f"{was.type} read as {now.type} can change the value",
            )
        else:
            add("field-scalar-kind-changed", f"{where} changed from {was.type} to {now.type}")
    elif was.kind != "scalar" and _strip(was.type_name, old_pkg) != _strip(now.type_name, new_pkg):
        add("field-named-type-changed", f"{where} changed type from {was.type_name} to {now.type_name}")
    if was.label == now.label:
        return
    if now.label == "required" and was.label != "required":
        add("required-field-added", f"{where} became required")
    elif was.label == "required" and now.label != "required":
        add("required-field-removed", f"{where} is no longer required")
    elif was.label is not None and now.label is not None and was.kind == "scalar":
        text = f"{where} label changed from {was.label} to {now.label}"
        if was.type in _NUMERIC:
            add("field-numeric-label-changed", text)
        else:
            lossy = (
                "a repeated value read as singular keeps only the last element"
                if was.repeated and not now.repeated
                else ""
            )
            add("field-string-or-bytes-label-changed", text, lossy)
    if was.repeated and not now.repeated and was.kind == "message":
        add(
            "field-label-changed",
            f"{where} changed from repeated to singular",
            "repeated messages read as one are merged into one",
        )


def _enums(original: ProtoSchema, update: ProtoSchema, out: list[Difference]) -> None:
    for name, values in original.enums.items():
        now = update.enums.get(name)
        if now is None:
            out.append(Difference("enum-removed", "", Side.WRITER, f"enum {name} was removed"))
            continue
        old_by_number, new_by_number = {n: v for v, n in values}, {n: v for v, n in now}
        for number, constant in old_by_number.items():
            if number not in new_by_number:
                out.append(
                    Difference(
                        "enum-constant-removed",
                        "",
                        Side.WRITER,
                        f"enum constant {name}.{constant} ({number}) was removed",
                    )
                )
            elif new_by_number[number] != constant:
                out.append(
                    Difference(
                        "enum-constant-renamed",
                        "",
                        Side.READER,
                        f"enum constant {name}.{constant} ({number}) renamed to {new_by_number[number]}",
                    )
                )
        out.extend(
            Difference(
                "enum-constant-added",
                "",
                Side.READER,
                f"enum constant {name}.{constant} ({number}) was added",
            )
            for number, constant in new_by_number.items()
            if number not in old_by_number
        )
    out.extend(
        Difference("enum-added", "", Side.READER, f"enum {name} was added")
        for name in update.enums.keys() - original.enums.keys()
    )


# ------------------------------------------------------------------------------ the check


def incompatibilities(reader: ProtoSchema, writer: ProtoSchema) -> list[Incompatibility]:
    """Confluent's verdict: what fails when `reader` reads data written with `writer`."""
    return [_with_proof(d, reader, writer) for d in diff(writer, reader) if d.fails]


def lossy_changes(reader: ProtoSchema, writer: ProtoSchema) -> list[Incompatibility]:
    """Accepted by the registry, yet data changes on the way: only those a decode proves."""
    out: list[Incompatibility] = []
    for d in diff(writer, reader):
        if d.fails or not d.lossy:
            continue
        proven = _lossy_proof(d, reader, writer)
        if proven is not None:
            out.append(
                Incompatibility(
                    code=f"lossy-{d.code}",
                    pointer=d.pointer,
                    side=d.side,
                    message=f"{d.message}; accepted by Schema Registry, but {d.lossy}",
                    counterexample=proven,
                )
            )
    return out


def changes(old: ProtoSchema, new: ProtoSchema) -> list[Change]:
    forward_breaks = {(d.code, d.pointer) for d in diff(new, old) if d.fails}
    forward_pointers = {p for _, p in forward_breaks}
    out = []
    for d in diff(old, new):
        mirrored = _MIRROR.get(d.code, d.code)
        breaks_forward = (mirrored, d.pointer) in forward_breaks or (
            d.code not in _MIRROR and d.pointer in forward_pointers and d.code in FAILING
        )
        out.append(Change(d.code, d.pointer, d.side, d.message, d.fails, breaks_forward))
    return out


# a difference seen from the other side (new -> old) has the opposite code
_MIRROR = {
    "message-added": "message-removed",
    "message-removed": "message-added",
    "required-field-added": "required-field-removed",
    "required-field-removed": "required-field-added",
    "field-added": "field-removed",
    "field-removed": "field-added",
    "oneof-field-added": "oneof-field-removed",
    "oneof-field-removed": "oneof-field-added",
    "enum-added": "enum-removed",
    "enum-removed": "enum-added",
}


# ------------------------------------------------------------------------------ proofs

_TRY_VALUES: tuple[int, ...] = (2**33 + 7, 2**32 - 1, -1, 2, 2**64 - 1, 2**63 + 5, 2**31)


def _classes(d: Difference, reader: ProtoSchema, writer: ProtoSchema) -> tuple[Any, Any] | None:
    name = d.message_name or writer.main_message or ""
    reader_name = name if d.code != "package-changed" else (reader.main_message or "")
    w = witness.message_class(writer, name)
    r = witness.message_class(reader, reader_name)
    if w is None or r is None:
        return None
    return w, r


def _with_proof(d: Difference, reader: ProtoSchema, writer: ProtoSchema) -> Incompatibility:
    base = Incompatibility(code=d.code, pointer=d.pointer, side=d.side, message=d.message)
    if d.code == "message-removed":
        return _replace(
            base,
            reason=f"the reader's schema has no message {d.message_name}: data written as "
            "it has no type to be decoded with",
        )
    if d.code in ("package-changed",):
        return _replace(
            base,
            reason="the bytes still decode; what breaks is the type name consumers and "
            "the registry look messages up by",
        )
    classes = _classes(d, reader, writer)
    if classes is None:
        return _replace(base, reason="no message type to encode with on both sides")
    writer_cls, reader_cls = classes
    msg = writer_cls()
    witness.fill_required(msg)
    numbers = [d.number] if d.number else []
    if d.code in ("multiple-fields-moved-to-oneof", "field-moved-to-existing-oneof"):
        reader_desc = reader_cls.DESCRIPTOR
        oneof = reader_desc.fields_by_number[d.number].containing_oneof
        numbers = [f.number for f in oneof.fields if f.number in writer_cls.DESCRIPTOR.fields_by_number]
    for number in numbers:
        if d.code != "required-field-added":
            witness.set_field(msg, number, count=2)
    try:
        data = msg.SerializeToString()
    except Exception as exc:
        return _replace(base, reason=f"the writer cannot encode a message for it: {exc}")
    decoded, proof = witness.decode(reader_cls, data)
    if decoded is not None and d.code in ("required-field-removed", "oneof-field-added"):
        return _replace(
            base,
            reason=f"registry rule; {proof} (the break shows when a consumer of the other version reads it)",
        )
    return Incompatibility(
        code=d.code,
        pointer=d.pointer,
        side=d.side,
        message=d.message,
        counterexample=Counterexample(
            event={"message": writer_cls.DESCRIPTOR.full_name, "data": witness.as_event(msg)},
            proof=f"encoded with the writer's descriptors ({len(data)} bytes); {proof}",
        ),
    )


def _replace(base: Incompatibility, *, reason: str) -> Incompatibility:
    return Incompatibility(
        code=base.code,
        pointer=base.pointer,
        side=base.side,
        message=base.message,
        no_counterexample_reason=reason,
    )


def _lossy_proof(d: Difference, reader: ProtoSchema, writer: ProtoSchema) -> Counterexample | None:
    classes = _classes(d, reader, writer)
    if classes is None:
        return None
    writer_cls, reader_cls = classes
    w_field = writer_cls.DESCRIPTOR.fields_by_number.get(d.number)
    r_field = reader_cls.DESCRIPTOR.fields_by_number.get(d.number)
    if w_field is None or r_field is None:
        return None
    candidates: list[object]
    if w_field.type in (w_field.TYPE_STRING, w_field.TYPE_BYTES) or w_field.message_type is not None:
        if w_field.is_repeated:
            candidates = [["rf-1", "rf-2"] if w_field.type == w_field.TYPE_STRING else [b"\x01", b"\x02"]]
        elif w_field.type == w_field.TYPE_BYTES:
            candidates = [b"\xff\xfe"]
        else:
            candidates = ["rf-2041"]
        if w_field.message_type is not None:
            candidates = [None]
    elif w_field.type == w_field.TYPE_ENUM:
        candidates = [v.number for v in w_field.enum_type.values][1:] or [0]
    elif w_field.type in (w_field.TYPE_FLOAT, w_field.TYPE_DOUBLE):
        candidates = [0.1]
    elif r_field.type == r_field.TYPE_BOOL:
        candidates = [2, *_TRY_VALUES]
    else:
        candidates = [*_TRY_VALUES, 7]
    for value in candidates:
        msg = writer_cls()
        witness.fill_required(msg)
        try:
            witness.set_field(msg, d.number, value, count=2)
        except (ValueError, TypeError, OverflowError):
            continue
        written = witness.as_event(msg)
        data = msg.SerializeToString()
        decoded, proof = witness.decode(reader_cls, data)
        if decoded is None or _value(decoded, r_field.name) != _value(msg, w_field.name):
            return Counterexample(
                event={"message": writer_cls.DESCRIPTOR.full_name, "data": written},
                proof=f"encoded with the writer's descriptors; {proof}",
            )
    return None


def _value(msg: object, name: str) -> object:
    value = getattr(msg, name)
    if hasattr(value, "SerializeToString"):
        return value.SerializeToString()
    if isinstance(value, str):
        return value.encode()  # string and bytes share a wire form: the same text is no loss
    if hasattr(value, "__len__") and not isinstance(value, str | bytes):
        return [v.SerializeToString() if hasattr(v, "SerializeToString") else v for v in value]
    return value
