"""What a compatibility check reports: plain data shared by the engines and the renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from evtool.errors import ExitCode


class Direction(StrEnum):
    """Which side reads: BACKWARD means the new schema reads data written with the old one."""

    BACKWARD = "backward"
    FORWARD = "forward"


class Severity(StrEnum):
    """ERROR findings fail the check; a WARNING is shown everywhere and fails nothing."""

    ERROR = "error"
    WARNING = "warning"


class Side(StrEnum):
    """Which of the two schemas of a pair a JSON pointer points into."""

    READER = "reader"
    WRITER = "writer"


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A concrete event the writer schema accepts and the reader schema rejects or cannot decode.

    ``proof`` is what the real validator/decoder said when it was tried (jsonschema's
    message, or fastavro's error when decoding writer bytes with the reader schema).
    """

    event: Any
    proof: str


@dataclass(frozen=True, slots=True)
class Incompatibility:
    """One reason a reader schema cannot read what a writer schema writes.

    Engines produce these knowing nothing of subjects, versions or files; ``pointer`` is an
    RFC 6901 JSON pointer into the schema document named by ``side``.
    """

    code: str
    pointer: str
    side: Side
    message: str
    counterexample: Counterexample | None = None
    no_counterexample_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    file: Path
    line: int | None


@dataclass(frozen=True, slots=True)
class Finding:
    """An incompatibility (or an immutability breach) placed in the catalogue."""

    subject: str
    old_version: int
    new_version: int
    direction: Direction | None  # None for findings that are not about reading (immutability)
    code: str
    pointer: str
    location: Location
    message: str
    counterexample: Counterexample | None = None
    no_counterexample_reason: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def is_incompatibility(self) -> bool:
        """About reading data (not about a published file being edited)."""
        return self.direction is not None


@dataclass(frozen=True, slots=True)
class CheckedPair:
    subject: str
    old_version: int
    new_version: int
    direction: Direction


@dataclass(frozen=True, slots=True)
class RegistryVerdict:
    """A Schema Registry's own answer on a new version, beside evtool's (`--registry`)."""

    subject: str
    registry_subject: str
    version: int
    level: str
    registry_compatible: bool
    evtool_compatible: bool
    messages: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return self.registry_compatible == self.evtool_compatible


@dataclass(slots=True)
class CheckReport:
    """Everything one `schema check` found, in catalogue order."""

    findings: list[Finding] = field(default_factory=list)
    pairs: list[CheckedPair] = field(default_factory=list)
    subjects_checked: int = 0
    modes: dict[str, str] = field(default_factory=dict)
    registry_verdicts: list[RegistryVerdict] = field(default_factory=list)

    @property
    def pairs_checked(self) -> int:
        return len(self.pairs)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        """No finding that fails the check (warnings, e.g. a doc-only edit, do not)."""
        return not self.errors

    @property
    def exit_code(self) -> ExitCode:
        """What `schema check` ends with: CHECK_FAILED as soon as one finding stands."""
        return ExitCode.OK if self.ok else ExitCode.CHECK_FAILED


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions of a schema, classified both ways (`schema diff`)."""

    code: str
    pointer: str
    side: Side  # READER is the new schema, WRITER the old one, for pointer lookup
    message: str
    breaks_backward: bool
    breaks_forward: bool


# -- what each finding code means (SARIF rule help; kept beside the codes so it can move into
#    the code catalogue with them) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeHelp:
    summary: str  # one line: what changed
    why: str  # why a consumer breaks
    fix: str  # what to do instead


_FIX_NEW_VERSION = ("keep the old rule in this version, or publish the change under a new "
                    "subject (or with the subject's compatibility set to what you intend)")
_FIX_DEFAULT = "give the new field/property a default, or make it optional"

CODE_HELP: dict[str, CodeHelp] = {
    # JSON Schema
    "type-changed": CodeHelp("A type changed", "The new type shares no value with the old one, "
                             "so every old value there is rejected.", _FIX_NEW_VERSION),
    "type-narrowed": CodeHelp("A type was narrowed", "Some types the old schema allowed are no "
                              "longer accepted.", "accept the old types too (a type list)"),
    "enum-added": CodeHelp("An enum restriction was added", "Values outside the new enum were "
                           "valid before.", "leave the value unrestricted in this version"),
    "const-added": CodeHelp("A const restriction was added", "Every other value was valid before.",
                            "leave the value unrestricted in this version"),
    "const-changed": CodeHelp("A const changed", "Old events carry the old constant.",
                              _FIX_NEW_VERSION),
    "enum-array-narrowed": CodeHelp("Enum values were removed", "Old events may carry the removed "
                                    "values.", "keep the removed values (deprecate them in the "
                                    "description instead)"),
    "enum-array-changed": CodeHelp("Enum values were replaced", "Old events may carry the removed "
                                   "values.", "keep the old values beside the new ones"),
    "required-attribute-added": CodeHelp("A property became required", "Old events may lack it.",
                                         _FIX_DEFAULT),
    "required-property-added-to-unopen-content-model": CodeHelp(
        "A required property was added", "Old events do not carry it.", _FIX_DEFAULT),
    "property-added-to-open-content-model": CodeHelp(
        "A property was added to an open object", "Old events may already carry a property of "
        "that name with any value, which the new schema rejects.",
        "accept any value there, or close the object in a new subject"),
    "property-added-not-covered-by-partially-open-content-model": CodeHelp(
        "A property was added that the old additionalProperties did not cover",
        "Old events may carry that name with values the new property rejects.",
        "make the new property accept what additionalProperties accepted"),
    "property-removed-from-closed-content-model": CodeHelp(
        "A property was removed from a closed object", "Old events that carry it are rejected "
        "by the now stricter additionalProperties.", "keep the property (it can be deprecated)"),
    "property-removed-not-covered-by-partially-open-content-model": CodeHelp(
        "A property was removed and additionalProperties does not accept its values",
        "Old events that carry it are rejected.", "keep the property, or widen additionalProperties"),
    "pattern-property-added": CodeHelp("A patternProperties entry was added", "Old events may carry "
                                       "matching names with values it rejects.", _FIX_NEW_VERSION),
    "pattern-property-removed-from-closed-content-model": CodeHelp(
        "A patternProperties entry was removed from a closed object",
        "Old events with matching names are rejected.", "keep the patternProperties entry"),
    "additional-properties-removed": CodeHelp("The object was closed (additionalProperties: false)",
                                              "Old events may carry extra properties.",
                                              "leave the object open"),
    "additional-properties-narrowed": CodeHelp("additionalProperties became stricter",
                                               "Extra properties of old events may be rejected.",
                                               "keep additionalProperties as it was"),
    "combined-type-changed": CodeHelp("A combinator changed (e.g. anyOf became oneOf)",
                                      "Old values may now match zero or several branches.",
                                      "keep the combinator"),
    "combined-type-subschemas-changed": CodeHelp("A branch of a combinator changed",
                                                 "An old branch matches no new branch.",
                                                 "keep a branch that accepts the old values"),
    "sum-type-narrowed": CodeHelp("A oneOf/anyOf lost a branch", "Old values of that branch are "
                                  "rejected.", "keep the branch"),
    "product-type-extended": CodeHelp("An allOf gained a constraint", "Old values may fail it.",
                                      _FIX_NEW_VERSION),
    "not-type-added": CodeHelp("A 'not' was added", "Old values it forbids are rejected.",
                               _FIX_NEW_VERSION),
    "not-type-extended": CodeHelp("A 'not' forbids more", "Old values it forbids are rejected.",
                                  _FIX_NEW_VERSION),
    "conditional-added": CodeHelp("An if/then/else was added", "Old values may fail its branch.",
                                  _FIX_NEW_VERSION),
    "conditional-changed": CodeHelp("An if/then/else changed", "Old values may fail the new branch.",
                                    _FIX_NEW_VERSION),
    "unique-items-added": CodeHelp("uniqueItems was added", "Old arrays may repeat items.",
                                   "leave duplicates allowed"),
    "dependency-array-added": CodeHelp("A dependentRequired was added", "Old events may carry the "
                                       "trigger without the dependents.", _FIX_NEW_VERSION),
    "dependency-schema-added": CodeHelp("A dependentSchemas entry was added", "Old events may fail "
                                        "it.", _FIX_NEW_VERSION),
    # Avro (reader/writer resolution, as Avro's SchemaCompatibility)
    "reader-field-missing-default": CodeHelp(
        "A field was added without a default", "Data written with the old schema has no value "
        "for it, so the reader cannot decode it.", "give the field a default"),
    "missing-enum-symbol": CodeHelp("Enum symbols were removed", "Old data may hold a removed "
                                    "symbol and the enum has no default to fall back to.",
                                    "keep the symbols, or give the enum a default"),
    "type-mismatch": CodeHelp("A field's type changed", "Avro cannot promote the old type to the "
                              "new one.", "use a promotable type (int→long→float→double, "
                              "string↔bytes) or a union of old and new"),
    "missing-union-branch": CodeHelp("A union lost a branch", "Old data of that branch cannot be "
                                     "read.", "keep the branch"),
    "name-mismatch": CodeHelp("A named type was renamed", "The reader does not recognise the "
                              "writer's name.", "add the old name to the type's aliases"),
    "fixed-size-mismatch": CodeHelp("A fixed type changed size", "Old data has the old size.",
                                    _FIX_NEW_VERSION),
    "ambiguous-field-match": CodeHelp("A field's aliases match several writer fields",
                                      "The reader cannot tell which one to read.",
                                      "keep one alias per writer field"),
    # Published versions
    "published-version-modified": CodeHelp(
        "A published version was edited", "Consumers and the registry already hold the published "
        "text; data written with it may no longer match the file.",
        "revert the edit and add the change as the next version"),
    "published-version-deleted": CodeHelp("A published version was deleted", "Consumers may still "
                                          "read data written with it.", "restore the file"),
    "published-version-docs-edited": CodeHelp(
        "Only the documentation of a published version was edited (warning)",
        "Data reads exactly as before; the registry keeps the text it registered.",
        "fine to keep; register the next version to publish the new text"),
}
_BOUND_WORDS = {
    "max-length": "maxLength", "min-length": "minLength", "maximum": "maximum",
    "minimum": "minimum", "exclusive-maximum": "exclusiveMaximum",
    "exclusive-minimum": "exclusiveMinimum", "max-properties": "maxProperties",
    "min-properties": "minProperties", "max-items": "maxItems", "min-items": "minItems",
    "max-contains": "maxContains", "min-contains": "minContains", "multiple-of": "multipleOf",
    "pattern": "pattern", "contains": "contains", "property-names": "propertyNames",
    "unevaluated-properties": "unevaluatedProperties", "items": "items",
    "additional-items": "additionalItems", "dependency-array": "dependentRequired",
}


def code_help(code: str) -> CodeHelp:
    """The help of a finding code; constraint families (``max-length-added`` …) share one text."""
    found = CODE_HELP.get(code)
    if found is not None:
        return found
    for base, keyword in _BOUND_WORDS.items():
        if code.startswith(base + "-"):
            change = code[len(base) + 1:].replace("-", " ")
            return CodeHelp(f"{keyword} {change}", f"The new {keyword} rejects values old events "
                            "may carry.", f"keep {keyword} as loose as in the old version")
    if code.startswith("item-"):
        return CodeHelp(code.replace("-", " ").capitalize(), "Old arrays have items the new "
                        "tuple rejects.", "keep the tuple items and additionalItems as they were")
    return CodeHelp(code.replace("-", " ").capitalize(), "Data one side writes, the other cannot "
                    "read.", _FIX_NEW_VERSION)
