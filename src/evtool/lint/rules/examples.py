"""Examples: the examples a schema shows are events it accepts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule


class ExamplesValid(Rule):
    """Every JSON Schema `examples` value (on the schema or any field) is valid against its schema.

    Examples are copied into docs, tests and mocks; an invalid one teaches consumers to send
    events the gate then rejects.
    """

    code = "EV502"
    name = "examples-valid"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        if target.schema.format.value != "json" or not isinstance(target.schema.document, dict):
            return
        import jsonschema

        root = target.schema.document
        for pointer, node in _with_examples(root, ""):
            schema = {**node, "definitions": root.get("definitions", {}), "$defs": root.get("$defs", {})}
            schema.pop("examples", None)
            schema.pop("$id", None)
            validator = jsonschema.validators.validator_for(root)(schema)
            for index, example in enumerate(node["examples"]):
                error = jsonschema.exceptions.best_match(validator.iter_errors(example))
                if error is not None:
                    yield Violation(
                        f"{pointer}/examples/{index}", f"example {index} is invalid: {error.message}"
                    )


def _with_examples(node: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list):
            yield pointer, node
        for key, value in node.items():
            if key != "examples":
                yield from _with_examples(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _with_examples(value, f"{pointer}/{index}")
