"""The compatibility modes of Confluent Schema Registry and what each one compares.

A leaf module: configuration validates mode names against it and the compatibility engine
plans its pair checks from it, so it sits below both.
"""

from __future__ import annotations

from enum import StrEnum


class CompatibilityMode(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        """New schema must read data written with older ones."""
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        """Older schemas must read data written with the new one."""
        return self.value.startswith(("FORWARD", "FULL"))

    @classmethod
    def parse(cls, text: str) -> CompatibilityMode:
        """Accept any case and `-` for `_`; raise ValueError naming the valid modes."""
        normalized = text.strip().upper().replace("-", "_")
        try:
            return cls(normalized)
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown compatibility mode {text!r} (valid: {valid})") from None
