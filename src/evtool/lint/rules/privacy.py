"""Privacy: personal data is marked where it is declared, so it can be masked where it flows."""

from __future__ import annotations

import re
from collections.abc import Iterator

from evtool.lint.fields import PII_TAG
from evtool.lint.model import Group, LintTarget, Violation
from evtool.lint.rule import Rule

PERSONAL = re.compile(
    r"(^|_)(e_?mail|phone|mobile|first_?name|last_?name|full_?name|street|postal_?code|zip_?code|birth_?date|"
    r"date_of_birth|ssn|iban|ip_?address)($|_)",
    re.IGNORECASE,
)
PERSON_RECORD = re.compile(r"(customer|person|user|contact|recipient|buyer)", re.IGNORECASE)


class PiiTagged(Rule):
    """Fields holding personal data are tagged PII (`"confluent:tags": ["PII"]`, or `"pii": true` /
    `"x-pii": true`).

    Recognised by name: e-mail, phone, names of a person (a `name` inside a customer/user record),
    street and postal code, birth date, IBAN, IP address. Data catalogues, masking and retention
    rules key on the tag; an untagged e-mail column is one nobody is told to protect.
    """

    code = "EV501"
    name = "pii-tagged"
    group = Group.BASIC

    def check(self, target: LintTarget) -> Iterator[Violation]:
        for field in target.view.fields:
            parent = field.path.rsplit(".", 1)[0] if "." in field.path else ""
            personal = PERSONAL.search(field.name) is not None or (
                field.name.lower() == "name" and PERSON_RECORD.search(parent) is not None
            )
            if personal and PII_TAG not in field.tags:
                yield Violation(
                    field.pointer, f"field {field.path!r} holds personal data but is not tagged PII"
                )
