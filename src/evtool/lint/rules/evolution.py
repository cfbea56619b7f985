"""Evolution: schemas that can change later without breaking the consumers reading them today."""

from __future__ import annotations

from collections.abc import Iterator

from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule

CATCH_ALL = {"other", "unknown", "unspecified"}


class EnumCanGrow(Rule):
    """Enums can gain symbols: Avro enums declare a `default`; JSON Schema enums keep a catch-all value.

    Adding a symbol to an Avro enum without a default breaks every reader on the old schema
    (the Schema Registry rejects it under FORWARD); with `default`, old readers map the new
    symbol to it. A JSON Schema enum without an `other`/`unknown` value leaves producers no
    legal value for a case the enum did not foresee. (.proto enums: EV304.)
    """

    code = "EV301"
    name = "enum-can-grow"
    group = Group.MINIMAL

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.schema.format.value == "protobuf":
            return  # .proto enums grow through their zero value: EV304
        avro = target.schema.format.value == "avro"
        for enum in target.view.enums:
            if avro and not enum.has_default:
                yield Violation(
                    enum.pointer, f"enum {enum.name!r} has no default: adding a symbol will break readers"
                )
            if not avro and not CATCH_ALL & {s.lower() for s in enum.symbols}:
                yield Violation(enum.pointer, f"enum {enum.name!r} has no catch-all value (other/unknown)")


class NewFieldOptional(Rule):
    """A field added in a new version is optional (Avro: has a default; JSON Schema: not required).

    Data written before the field existed has no value for it; a required new field makes every
    old event unreadable (Avro) or invalid (JSON Schema) for the new reader.
    """

    code = "EV302"
    name = "new-field-optional"
    group = Group.MINIMAL

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.previous_view is None:
            return
        before = {f.path for f in target.previous_view.fields}
        for field in target.view.fields:
            parent = field.path.rsplit(".", 1)[0] if "." in field.path else ""
            parent_is_new = bool(parent) and parent not in before
            if field.path not in before and not parent_is_new and not field.optional:
                yield Violation(
                    field.pointer,
                    f"field {field.path!r} is new in v{target.schema.version} "
                    "and neither optional nor defaulted",
                )


class TagsKept(Rule):
    """Field tags (PII and other `confluent:tags`) are never dropped between versions.

    Tags drive masking, retention and access rules downstream; a tag that silently disappears
    in a new version lets personal data flow where it must not.
    """

    code = "EV303"
    name = "tags-kept"
    group = Group.MINIMAL

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.previous_view is None:
            return
        for old in target.previous_view.fields:
            new = target.view.field_at(old.path)
            if new is not None and old.tags - new.tags:
                dropped = ", ".join(sorted(old.tags - new.tags))
                yield Violation(
                    new.pointer,
                    f"field {old.path!r} lost tag(s) {dropped} "
                    f"it had in v{target.previous.version if target.previous else '?'}",
                )
