"""Small Avro histories of one order subject, as a team keeps them in git."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ORDER_V1: dict[str, Any] = {
    "type": "record",
    "name": "OrderPlaced",
    "namespace": "com.acme.orders",
    "fields": [
        {"name": "orderId", "type": "string"},
        {"name": "totalCents", "type": "long"},
    ],
}
ORDER_V2 = copy.deepcopy(ORDER_V1)  # a defaulted field added: compatible both ways
ORDER_V2["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
ORDER_V3_BREAKING = copy.deepcopy(ORDER_V2)  # a field added without a default: breaks BACKWARD
ORDER_V3_BREAKING["fields"].append({"name": "couponCode", "type": "string"})


def write_catalog(
    root: Path, versions: list[dict[str, Any]], *, subject: str = "orders", config: str = ""
) -> Path:
    """A repository with schemas/<subject>/<n>.avsc and an evtool.toml; returns the toml path."""
    folder = root / "schemas" / subject
    folder.mkdir(parents=True, exist_ok=True)
    for number, schema in enumerate(versions, start=1):
        (folder / f"{number}.avsc").write_text(json.dumps(schema, indent=2) + "\n")
    toml = root / "evtool.toml"
    toml.write_text('schema_dir = "schemas"\ndefault_mode = "NONE"\n' + config)
    return toml
