"""The compatibility finding codes: every code an engine can report, declared once with its documentation.

Like the lint rules (`evtool.lint.rule`): a code never changes meaning or gets reused, since CI
configuration, SARIF baselines and scripts reading `schema check --format json` name them. SARIF rule
help, the JSON report and `schema check --list-codes` draw from here; a test checks that every code
an engine's source can emit is declared (tests/compat/test_codes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from evtool.catalog.model import SchemaFormat

AVRO, JSON, PROTOBUF = SchemaFormat.AVRO, SchemaFormat.JSON, SchemaFormat.PROTOBUF
ALL = frozenset(SchemaFormat)


class Effect(StrEnum):
    """What a difference with this code means for the reader of the comparison that found it.

    Engines compare a reader with a writer; direction is per finding: `schema check` finds a code
    with the new schema as reader for BACKWARD and with the old one for FORWARD, and `schema diff`
    classifies each change both ways — a COMPATIBLE widening (`type-extended`) still breaks FORWARD.
    """

    BREAKS = "breaks"  # the reader cannot read (or rejects) what the writer wrote: fails the check
    LOSSY = "lossy"  # accepted by the registry, yet data changes on the way: a warning (--strict fails)
    COMPATIBLE = "compatible"  # the reader reads everything the writer wrote (the reverse may break)
    DIFF = "diff"  # a `schema diff` change whose verdict depends on its details (given per change)
    PUBLISHED = "published"  # not about reading: a published version's file was edited or deleted


@dataclass(frozen=True, slots=True)
class FindingCode:
    code: str
    formats: frozenset[SchemaFormat]
    effect: Effect
    summary: str  # one line: what changed
    why: str  # why a consumer breaks (or why it does not)
    fix: str  # what to do instead

    @property
    def fails_check(self) -> bool:
        return self.effect in (Effect.BREAKS, Effect.PUBLISHED)

    def documentation(self) -> str:
        return f"{self.summary}. {self.why} Fix: {self.fix}."


_NEW_VERSION = ("keep the old rule in this version, or publish the change under a new subject (or with "
                "the subject's compatibility set to what you intend)")
_DEFAULT = "give the new field/property a default, or make it optional"
NOTHING_TO_FIX = "nothing to do"
_SAFE = "Everything the old schema allowed is still read (the reverse direction may break)."

_CODES: dict[str, FindingCode] = {}


def _declare(code: str, formats: frozenset[SchemaFormat], effect: Effect, summary: str, why: str,
             fix: str = _NEW_VERSION) -> None:
    if code in _CODES:  # a programming error, caught by the import
        raise RuntimeError(f"finding code {code} declared twice")
    _CODES[code] = FindingCode(code, formats, effect, summary, why, fix)


def _safe(code: str, formats: frozenset[SchemaFormat], summary: str, why: str = _SAFE) -> None:
    _declare(code, formats, Effect.COMPATIBLE, summary, why, NOTHING_TO_FIX)


J, A, P = frozenset({JSON}), frozenset({AVRO}), frozenset({PROTOBUF})
B = Effect.BREAKS

# -- JSON Schema (the names follow Confluent's JSON Schema compatibility differences) -------------
_declare("type-changed", frozenset({JSON, AVRO}), B, "A type changed",
         "The new type shares no value with the old one, so every old value there is rejected "
         "(Avro `schema diff`: a replaced type; int→long and other promotions are classified per change).")
_declare("type-narrowed", J, B, "A type was narrowed",
         "Some types the old schema allowed are no longer accepted.",
         "accept the old types too (a type list)")
_safe("type-extended", J, "A type was widened (more types accepted)")
_declare("enum-added", frozenset({JSON, PROTOBUF}), Effect.DIFF,
         "An enum restriction was added (JSON Schema) or an enum type was added (Protobuf)",
         "JSON Schema: values outside the new enum were valid before, so the check fails. Protobuf: a new "
         "type breaks nothing.", "leave the value unrestricted in this version (JSON Schema)")
_declare("const-added", J, B, "A const restriction was added", "Every other value was valid before.",
         "leave the value unrestricted in this version")
_declare("const-changed", J, B, "A const changed", "Old events carry the old constant.")
_declare("enum-array-narrowed", J, B, "Enum values were removed", "Old events may carry the removed values.",
         "keep the removed values (deprecate them in the description instead)")
_declare("enum-array-changed", J, B, "Enum values were replaced", "Old events may carry the removed values.",
         "keep the old values beside the new ones")
_safe("enum-array-extended", J, "Enum values were added")
_declare("enum-removed", frozenset({JSON, PROTOBUF}), Effect.DIFF,
         "An enum restriction was removed (JSON Schema) or an enum type was removed (Protobuf)",
         "JSON Schema: every old value is still accepted. Protobuf: a field typed with the enum "
         "would change type, which `field-named-type-changed` reports.", NOTHING_TO_FIX)
_declare("required-attribute-added", J, B, "A property became required", "Old events may lack it.", _DEFAULT)
_safe("required-attribute-with-default-added", J, "A property with a default became required")
_safe("required-attribute-removed", J, "A property is no longer required")
_declare("required-property-added-to-unopen-content-model", J, B, "A required property was added",
         "Old events do not carry it.", _DEFAULT)
_safe("required-property-with-default-added-to-unopen-content-model", J,
      "A required property with a default was added to a closed object")
_safe("optional-property-added-to-unopen-content-model", J,
      "An optional property was added to a closed object",
      "Old events could not carry it, so none is rejected.")
_declare("property-added-to-open-content-model", J, B, "A property was added to an open object",
         "Old events may already carry a property of that name with any value, which the new schema rejects.",
         "accept any value there, or close the object in a new subject")
_safe("property-with-empty-schema-added-to-open-content-model", J,
      "A property accepting anything was added to an open object")
_declare("property-added-not-covered-by-partially-open-content-model", J, B,
         "A property was added that the old additionalProperties did not cover",
         "Old events may carry that name with values the new property rejects.",
         "make the new property accept what additionalProperties accepted")
_safe("property-added-is-covered-by-partially-open-content-model", J,
      "A property was added that the old additionalProperties covered")
_declare("property-removed-from-closed-content-model", J, B, "A property was removed from a closed object",
         "Old events that carry it are rejected by the now stricter additionalProperties.",
         "keep the property (it can be deprecated)")
_safe("property-with-false-removed-from-closed-content-model", J,
      "A property that forbade every value was removed from a closed object")
_safe("property-removed-from-open-content-model", J, "A property was removed from an open object",
      "The open object still accepts whatever old events carried there.")
_declare("property-removed-not-covered-by-partially-open-content-model", J, B,
         "A property was removed and additionalProperties does not accept its values",
         "Old events that carry it are rejected.", "keep the property, or widen additionalProperties")
_safe("property-removed-is-covered-by-partially-open-content-model", J,
      "A property was removed and additionalProperties accepts its values")
_declare("pattern-property-added", J, B, "A patternProperties entry was added",
         "Old events may carry matching names with values it rejects "
         "(compatible when no old name can match).")
_safe("pattern-property-removed", J, "A patternProperties entry was removed from an open object")
_declare("pattern-property-removed-from-closed-content-model", J, B,
         "A patternProperties entry was removed from a closed object",
         "Old events with matching names are rejected.", "keep the patternProperties entry")
_declare("additional-properties-removed", J, B, "The object was closed (additionalProperties: false)",
         "Old events may carry extra properties.", "leave the object open")
_declare("additional-properties-narrowed", J, B, "additionalProperties became stricter",
         "Extra properties of old events may be rejected.", "keep additionalProperties as it was")
_safe("additional-properties-added", J, "The object was opened (additionalProperties allowed)")
_safe("additional-properties-extended", J, "additionalProperties became looser")
_declare("combined-type-changed", J, B, "A combinator changed (e.g. anyOf became oneOf)",
         "Old values may now match zero or several branches.", "keep the combinator")
_safe("combined-type-extended", J, "A combinator became looser (e.g. oneOf became anyOf)")
_declare("combined-type-subschemas-changed", J, B, "A branch of a combinator changed",
         "An old branch matches no new branch.", "keep a branch that accepts the old values")
_declare("sum-type-narrowed", J, B, "A oneOf/anyOf lost a branch", "Old values of that branch are rejected.",
         "keep the branch")
_safe("sum-type-extended", J, "A oneOf/anyOf gained a branch (or the schema became one branch of one)")
_declare("product-type-extended", J, B, "An allOf gained a constraint", "Old values may fail it.")
_safe("product-type-narrowed", J, "An allOf lost a constraint")
_declare("not-type-added", J, B, "A 'not' was added", "Old values it forbids are rejected.")
_declare("not-type-extended", J, B, "A 'not' forbids more", "Old values it forbids are rejected.")
_safe("not-type-narrowed", J, "A 'not' forbids less")
_safe("not-type-removed", J, "A 'not' was removed")
_declare("conditional-added", J, B, "An if/then/else was added", "Old values may fail its branch.")
_declare("conditional-changed", J, B, "An if/then/else changed", "Old values may fail the new branch.")
_safe("conditional-removed", J, "An if/then/else was removed")
_declare("unique-items-added", J, B, "uniqueItems was added", "Old arrays may repeat items.",
         "leave duplicates allowed")
_safe("unique-items-removed", J, "uniqueItems was removed")
_declare("dependency-array-added", J, B, "A dependentRequired was added",
         "Old events may carry the trigger without the dependents.")
_declare("dependency-array-extended", J, B, "A dependentRequired requires more properties",
         "Old events may carry the trigger without the new dependents.")
_declare("dependency-array-changed", J, B, "A dependentRequired changed its properties",
         "Old events may lack the new dependents.")
_safe("dependency-array-narrowed", J, "A dependentRequired requires fewer properties")
_safe("dependency-array-removed", J, "A dependentRequired was removed")
_declare("dependency-schema-added", J, B, "A dependentSchemas entry was added", "Old events may fail it.")
_safe("dependency-schema-removed", J, "A dependentSchemas entry was removed")
_declare("pattern-added", J, B, "A string pattern was added", "Old strings may not match it.",
         "leave the string unrestricted in this version")
_declare("pattern-changed", J, B, "A string pattern changed", "Old strings may not match the new pattern.",
         "keep the old pattern (or one that accepts everything it accepted)")
_safe("pattern-removed", J, "A string pattern was removed")
_declare("multiple-of-added", J, B, "multipleOf was added", "Old numbers may not be multiples of it.")
_declare("multiple-of-expanded", J, B, "multipleOf grew to a multiple of the old one",
         "Old numbers that were multiples of the old value may not be of the new one.")
_declare("multiple-of-changed", J, B, "multipleOf changed to an unrelated value",
         "Old numbers may not be multiples of the new value.")
_safe("multiple-of-reduced", J, "multipleOf shrank to a divisor of the old one")
_safe("multiple-of-removed", J, "multipleOf was removed")
for _annotation in ("title", "description", "default", "id", "format", "annotation"):
    _safe(f"{_annotation}-changed", J, f"An annotation ({_annotation}) changed",
          "Annotations do not change which events are valid.")

# value bounds: adding or tightening one breaks reading, removing or loosening it does not
_BOUNDS = {
    "max-length": ("maxLength", True), "min-length": ("minLength", False), "maximum": ("maximum", True),
    "minimum": ("minimum", False), "exclusive-maximum": ("exclusiveMaximum", True),
    "exclusive-minimum": ("exclusiveMinimum", False), "max-properties": ("maxProperties", True),
    "min-properties": ("minProperties", False), "max-items": ("maxItems", True),
    "min-items": ("minItems", False), "max-contains": ("maxContains", True),
    "min-contains": ("minContains", False),
}
for _base, (_keyword, _upper) in _BOUNDS.items():
    _tighter, _looser = ("decreased", "increased") if _upper else ("increased", "decreased")
    _why = f"The new {_keyword} rejects values old events may carry."
    _fix = f"keep {_keyword} as loose as in the old version"
    _declare(f"{_base}-added", J, B, f"{_keyword} was added", _why, _fix)
    _declare(f"{_base}-{_tighter}", J, B, f"{_keyword} {_tighter} (stricter)", _why, _fix)
    _safe(f"{_base}-{_looser}", J, f"{_keyword} {_looser} (looser)")
    _safe(f"{_base}-removed", J, f"{_keyword} was removed")
for _base, _keyword in {"property-names": "propertyNames", "unevaluated-properties": "unevaluatedProperties",
                        "contains": "contains"}.items():
    _why = f"Old events may fail the new {_keyword}."
    _declare(f"{_base}-added", J, B, f"{_keyword} was added", _why)
    _declare(f"{_base}-narrowed", J, B, f"{_keyword} became stricter", _why)
    _safe(f"{_base}-removed", J, f"{_keyword} was removed")

# arrays: the items schema and tuples (prefixItems / items arrays and additionalItems)
_ITEMS_FIX = "keep the tuple items and additionalItems as they were"
_declare("items-removed", J, B, "Items are no longer allowed",
         "Old arrays have items the new schema rejects.",
         _ITEMS_FIX)
_declare("items-narrowed", J, B, "An items schema was added",
         "Old arrays may have items it rejects.", _ITEMS_FIX)
_safe("items-extended", J, "The items schema no longer restricts items (or more items are allowed)")
_declare("additional-items-removed", J, B, "Items beyond the tuple are no longer allowed",
         "Old arrays may be longer than the tuple.", _ITEMS_FIX)
_declare("additional-items-narrowed", J, B, "Items beyond the tuple are restricted",
         "Old arrays may have extra items it rejects.", _ITEMS_FIX)
_safe("additional-items-added", J, "Items beyond the tuple are now allowed")
_safe("additional-items-extended", J, "Items beyond the tuple are no longer restricted")
_declare("item-added-to-open-content-model", J, B, "A tuple item was added where any item was allowed",
         "Old arrays may carry any value at that position.", _ITEMS_FIX)
_declare("item-added-not-covered-by-partially-open-content-model", J, B,
         "A tuple item was added that the old additional items schema did not cover",
         "Old arrays may carry values there that the new item rejects.", _ITEMS_FIX)
_safe("item-added-is-covered-by-partially-open-content-model", J,
      "A tuple item was added that the old additional items schema covered")
_safe("item-added-to-closed-content-model", J, "A tuple item was added where no item was allowed")
_safe("item-with-empty-schema-added-to-open-content-model", J, "A tuple item accepting anything was added")
_declare("item-removed-from-closed-content-model", J, B, "A tuple item was removed from a closed tuple",
         "Old arrays that have it are now too long.", _ITEMS_FIX)
_declare("item-removed-not-covered-by-partially-open-content-model", J, B,
         "A tuple item was removed and the additional items schema does not accept its values",
         "Old arrays that have it are rejected.", _ITEMS_FIX)
_safe("item-removed-is-covered-by-partially-open-content-model", J,
      "A tuple item was removed and the additional items schema accepts its values")
_safe("item-removed-from-open-content-model", J, "A tuple item was removed from an open tuple")
_safe("item-with-false-removed-from-closed-content-model", J,
      "A tuple item that forbade every value was removed from a closed tuple")

# -- Avro: reader/writer resolution, as Avro's SchemaCompatibility (what `schema check` reports) ---------
_declare("reader-field-missing-default", A, B, "A field was added without a default",
         "Data written with the old schema has no value for it, so the reader cannot decode it.",
         "give the field a default")
_declare("missing-enum-symbol", A, B, "Enum symbols were removed",
         "Old data may hold a removed symbol and the enum has no default to fall back to.",
         "keep the symbols, or give the enum a default")
_declare("type-mismatch", A, B, "A field's type changed", "Avro cannot promote the old type to the new one.",
         "use a promotable type (int→long→float→double, string↔bytes) or a union of old and new")
_declare("missing-union-branch", A, B, "A union lost a branch", "Old data of that branch cannot be read.",
         "keep the branch")
_declare("name-mismatch", A, B, "A named type was renamed",
         "The reader does not recognise the writer's name.",
         "add the old name to the type's aliases")
_declare("fixed-size-mismatch", A, B, "A fixed type changed size", "Old data has the old size.")
_declare("ambiguous-field-match", A, B, "A field's aliases match several writer fields",
         "The reader cannot tell which one to read.", "keep one alias per writer field")
_declare("lossy-decimal-rescaled", A, Effect.LOSSY, "A decimal's precision or scale changed",
         "Avro resolves the bytes, but they hold the unscaled integer: a reader applying its own "
         "decimal type reads a different number.",
         "keep the decimal's scale; add a new field for the new one")
# Avro `schema diff`: what changed, classified per change by resolving both ways
_declare("logical-type-changed", A, Effect.DIFF, "A logicalType changed",
         "The underlying type may still resolve, but readers interpret the value differently.")
_declare("name-changed", A, Effect.DIFF, "A named type was renamed",
         "Resolution fails unless an alias matches.",
         "add the old name to the type's aliases")
_safe("aliases-changed", A, "A named type's aliases changed", "Aliases only matter when names differ.")
_declare("fixed-size-changed", A, Effect.DIFF, "A fixed type changed size", "Old data has the old size.")
_declare("union-branch-added", A, Effect.DIFF, "A union gained a branch",
         "The old schema cannot read data of the new branch (breaks forward).")
_declare("union-branch-removed", A, Effect.DIFF, "A union lost a branch",
         "The new schema cannot read data of the removed branch (breaks backward).", "keep the branch")
_declare("field-added", frozenset({AVRO, PROTOBUF}), Effect.DIFF, "A field was added",
         "Avro: without a default, old data has no value for it. Protobuf: old readers skip it.", _DEFAULT)
_declare("field-removed", frozenset({AVRO, PROTOBUF}), Effect.DIFF, "A field was removed",
         "Avro: without a default, new data has no value for old readers. Protobuf: its number "
         "must stay reserved so it is not reused.",
         "give the field a default before removing it (Avro); reserve its number and name (Protobuf)")
_declare("field-renamed", frozenset({AVRO, PROTOBUF}), Effect.DIFF, "A field was renamed",
         "Avro: matched through its alias. Protobuf: the number is what the wire carries, so a rename "
         "reads the same bytes (with another type, see lossy-field-renamed).", NOTHING_TO_FIX)
_safe("field-default-added", A, "A field gained a default")
_declare("field-default-removed", A, Effect.DIFF, "A field lost its default",
         "A reader of data that lacks the field has no value for it.", "keep the default")
_safe("field-default-changed", A, "A field's default changed",
      "Only data lacking the field reads differently.")
_safe("field-aliases-changed", A, "A field's aliases changed", "Aliases only matter when names differ.")
_declare("enum-symbol-added", A, Effect.DIFF, "An enum symbol was added",
         "Old readers without an enum default cannot read it (breaks forward).", "give the enum a default")
_declare("enum-symbol-removed", A, Effect.DIFF, "An enum symbol was removed",
         "New readers without an enum default cannot read old data holding it.",
         "keep the symbol, or give the enum a default")
_safe("enum-default-changed", A, "An enum's default changed", "Only unknown symbols read differently.")

# -- Protobuf (the names follow Confluent's Protobuf compatibility differences) ------------------------
_declare("package-changed", P, B, "The package changed",
         "Every message's full name changes: consumers look types up by name.", "keep the package")
_declare("message-removed", P, B, "A message was removed", "Data of that type has no type to decode with.",
         "keep the message (it can be deprecated)")
_safe("message-added", P, "A message was added")
_declare("field-kind-changed", P, B, "A field changed kind (scalar, message, enum, map)",
         "The wire types differ, so old bytes do not decode as the new kind.",
         "add a new field with a new number instead")
_declare("field-scalar-kind-changed", P, B, "A scalar field changed to a type of another wire group",
         "Old bytes do not decode as the new type.", "add a new field with a new number instead")
_declare("field-scalar-kind-changed-within-group", P, Effect.DIFF,
         "A scalar field changed to a type of the same wire group",
         "The bytes decode, but the value can change (see lossy-field-scalar-kind-changed-within-group).",
         "add a new field with a new number instead")
_declare("field-named-type-changed", P, B, "A message/enum field changed its type",
         "Old bytes are read as another type.", "add a new field with a new number instead")
_declare("field-numeric-label-changed", P, B, "A numeric field's label changed (e.g. optional to repeated)",
         "Packed and unpacked encodings and presence differ between the labels.",
         "add a new field with a new number instead")
_declare("field-string-or-bytes-label-changed", P, Effect.DIFF, "A string/bytes field's label changed",
         "Accepted by the registry; repeated to singular keeps only the last element "
         "(see lossy-field-string-or-bytes-label-changed).", "add a new field with a new number instead")
_declare("field-label-changed", P, Effect.DIFF, "A message field changed from repeated to singular",
         "Accepted by the registry; "
         " repeated messages read as one are merged (see lossy-field-label-changed).",
         "add a new field with a new number instead")
_declare("required-field-added", P, B, "A required field was added (proto2)", "Old data lacks it.",
         "make it optional")
_declare("required-field-removed", P, B, "A required field was removed (proto2)",
         "Old readers require it and reject new data.", "keep it")
_declare("oneof-field-removed", P, B, "A field was removed from a oneof",
         "Data setting that member no longer decodes into the oneof.", "keep the member")
_declare("oneof-field-added", P, Effect.DIFF, "A field was added to a oneof",
         "Old readers skip it, so the oneof reads as unset.", NOTHING_TO_FIX)
_declare("multiple-fields-moved-to-oneof", P, B, "Several existing fields were moved into a new oneof",
         "Old data setting several of them now keeps only the last one.", "keep them outside the oneof")
_declare("field-moved-to-existing-oneof", P, B, "An existing field was moved into an existing oneof",
         "Old data setting it and another member now keeps only one.", "keep it outside the oneof")
_safe("oneof-field-moved-to-top-level", P, "A oneof member became a plain field")
_safe("oneof-added", P, "A oneof was added")
_safe("oneof-removed", P, "A oneof was removed (its members stay as fields)")
_declare("enum-constant-added", P, Effect.COMPATIBLE, "An enum constant was added",
         "Old readers keep it as an unknown value (proto3); give enums an *_UNSPECIFIED = 0.", NOTHING_TO_FIX)
_declare("enum-constant-removed", P, Effect.DIFF, "An enum constant was removed",
         "Old data holding it reads as an unknown value.", "keep (or reserve) the constant")
_declare("enum-constant-renamed", P, Effect.DIFF, "An enum constant was renamed",
         "The number is what the wire carries; JSON encodings use the name.", "keep the name")
for _code, _help in {
    "field-renamed": "a field number reused with another type reads old data into the new field",
    "field-scalar-kind-changed-within-group": "a value read as another type of its wire group can change",
    "field-string-or-bytes-label-changed": "a repeated value read as singular keeps only the last element",
    "field-label-changed": "repeated messages read as one are merged into one",
}.items():
    _declare(f"lossy-{_code}", P, Effect.LOSSY, _CODES[_code].summary + ", and a decode shows data lost",
             f"Accepted by Schema Registry, but {_help}.", "add a new field with a new number instead")

# -- published versions (not about reading) --------------------------------------------------------
_declare("published-version-modified", ALL, Effect.PUBLISHED, "A published version was edited",
         "Consumers and the registry already hold the published text; data written with it may no longer "
         "match the file.", "revert the edit and add the change as the next version")
_declare("published-version-deleted", ALL, Effect.PUBLISHED, "A published version was deleted",
         "Consumers may still read data written with it.", "restore the file")
_declare("published-version-docs-edited", ALL, Effect.COMPATIBLE,
         "Only the documentation of a published version was edited (warning)",
         "Data reads exactly as before; the registry keeps the text it registered.",
         "fine to keep; register the next version to publish the new text")

CODES: dict[str, FindingCode] = dict(sorted(_CODES.items()))


def finding_code(code: str) -> FindingCode:
    """The declared entry of a code; an undeclared one (a bug the catalogue test catches) gets a plain one."""
    found = CODES.get(code)
    if found is not None:
        return found
    return FindingCode(code, ALL, Effect.BREAKS, code.replace("-", " ").capitalize(),
                       "Data one side writes, the other cannot read.", _NEW_VERSION)
