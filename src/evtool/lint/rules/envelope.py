"""The envelope: a schema that is an event envelope carries the CloudEvents attributes, typed right."""

from __future__ import annotations

from collections.abc import Iterator

from evtool.lint.model import Group, Kind, LintTarget, Violation
from evtool.lint.rule import Rule

REQUIRED = ("id", "source", "type", "time")
ENVELOPE_MARKERS = {"specversion", "datacontenttype", "dataschema"}


class EnvelopeAttributes(Rule):
    """A schema that models the envelope itself (it has `specversion`, `datacontenttype` or `dataschema`)
    declares `id`, `source` and `type` as strings and `time` as a timestamp.

    evtool sends events as CloudEvents; an envelope schema that types `time` as a number or
    leaves out `source` describes events no CloudEvents consumer can route.
    """

    code = "EV601"
    name = "envelope-attributes"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        top = {f.name: f for f in target.view.fields if "." not in f.path}
        if not ENVELOPE_MARKERS & set(top):
            return
        for name in REQUIRED:
            field = top.get(name)
            if field is None:
                yield Violation("", f"envelope schema has no {name!r} attribute")
            elif name == "time" and field.logical not in (
                "date-time",
                "timestamp-millis",
                "timestamp-micros",
            ):
                yield Violation(field.pointer, "envelope attribute 'time' is not a timestamp")
            elif name != "time" and field.kind is not Kind.STRING:
                yield Violation(field.pointer, f"envelope attribute {name!r} is not a string")
