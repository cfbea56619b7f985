"""The official AsyncAPI 3.0 JSON Schema, from its npm package (`@asyncapi/specs`) at test time.

Not copied into the repository: installed once with npm into a cache outside it. Without npm or
the registry the tests that need it skip with the reason; under EVTOOL_REQUIRE_SERVICES=1 (CI)
they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.kafka_broker import missing_service

SPECS_VERSION = "6.11.1"
CACHE = Path(os.environ.get("EVTOOL_NPM_CACHE", Path.home() / ".cache" / "evtool-npm"))


@cache
def asyncapi_3_schema() -> dict[str, Any]:
    package = CACHE / f"asyncapi-specs-{SPECS_VERSION}"
    schema = package / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
    if not schema.exists():
        npm = shutil.which("npm")
        if npm is None:
            missing_service(
                "npm is not installed: cannot fetch @asyncapi/specs (the AsyncAPI 3.0 JSON Schema)"
            )
        package.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [
                str(npm),
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(package),
                f"@asyncapi/specs@{SPECS_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not schema.exists():
            missing_service(
                f"npm install @asyncapi/specs@{SPECS_VERSION} failed: {done.stderr.strip()[-300:]}"
            )
    loaded: dict[str, Any] = json.loads(schema.read_text(encoding="utf-8"))
    return loaded


def asyncapi_errors(document: dict[str, Any]) -> list[str]:
    """Every way `document` breaks the official schema (jsonschema, draft-07 as the schema says)."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    schema = asyncapi_3_schema()
    resources = [(schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7))]
    for definition in (schema.get("definitions") or {}).values():
        if isinstance(definition, dict) and "$id" in definition:
            resources.append(
                (definition["$id"], Resource.from_contents(definition, default_specification=DRAFT7))
            )
    validator = jsonschema.Draft7Validator(schema, registry=Registry().with_resources(resources))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '/'}: {e.message}" for e in validator.iter_errors(document)
    ]
