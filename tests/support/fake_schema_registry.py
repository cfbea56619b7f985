"""A FAKE Confluent Schema Registry: Confluent's documented REST protocol, in memory, on 127.0.0.1.

Not a real registry — it stands in for one because none can run here: Apicurio Registry 3.x
(`io.apicurio:apicurio-registry-app`) is a non-augmented Quarkus jar on Maven Central whose
build needs `apicurio-registry-schema-util-provider`, which this machine's Maven mirror does not
serve (neither 3.3.3 nor 2.6.13.Final; 3.0.9's parent POM is missing), Confluent's own registry
is not served at all, and Karapace is not on PyPI here.

It follows the documented protocol: the endpoints evtool calls, `application/vnd.schemaregistry
.v1+json`, error bodies `{"error_code", "message"}` with the documented codes (40401, 40402,
40403, 409/40901, 42201, 40101), registration idempotent by schema, `defaultToGlobal`, levels
enforced on register. Its Avro verdicts come from Apache Avro's own checker
(`avro.compatibility`, an independent implementation, so a disagreement with evtool is real);
JSON Schema and Protobuf it does not judge and accepts, as a registry with no checker for a type
would (tests must not read a verdict into that).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from tests.support.http_servers import serve_in_thread

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


@dataclass
class Stored:
    id: int
    schema: str
    schema_type: str


@dataclass
class FakeSchemaRegistry:
    """State and request log; `url` once serving."""

    global_level: str = "BACKWARD"
    levels: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, list[Stored]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    basic_auth: tuple[str, str] | None = None  # when set, every request must carry it
    url: str = ""
    _next_id: int = 1

    # -- what tests set up directly ---------------------------------------------------------------

    def add(self, subject: str, schema: Any, schema_type: str = "AVRO") -> int:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        existing = self._find_any(text, schema_type)
        schema_id = existing if existing is not None else self._allocate()
        self.subjects.setdefault(subject, []).append(Stored(schema_id, text, schema_type))
        return schema_id

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [
            r
            for r in self.requests
            if r[0] in ("PUT",)
            or (r[1].endswith("/versions")
            and r[0] == "POST"
            and not r[1].startswith("/compatibility"))
        ]

    # -- protocol ---------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.basic_auth is not None and not self._authorized(request):
            return _error(401, 40101, "Unauthorized")
        parts = [p for p in request.path.split("/") if p]
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return _error(422, 42201, "Invalid JSON body")
        method = request.method
        if parts == ["subjects"] and method == "GET":
            return _ok(sorted(self.subjects))
        if len(parts) >= 2 and parts[0] == "subjects":
            subject = parts[1]
            if len(parts) == 2 and method == "POST":
                return self._lookup(subject, body)
            if len(parts) == 3 and parts[2] == "versions":
                if method == "GET":
                    if subject not in self.subjects:
                        return _error(404, 40401, f"Subject '{subject}' not found.")
                    return _ok(list(range(1, len(self.subjects[subject]) + 1)))
                if method == "POST":
                    return self._register(subject, body)
            if len(parts) == 4 and parts[2] == "versions" and method == "GET":
                return self._version(subject, parts[3])
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and method == "GET":
            return self._by_id(int(parts[2]) if parts[2].isdigit() else -1)
        if parts[:1] == ["config"]:
            if len(parts) == 1:
                if method == "PUT":
                    self.global_level = body["compatibility"]
                    return _ok({"compatibility": self.global_level})
                return _ok({"compatibilityLevel": self.global_level})
            subject = parts[1]
            if method == "PUT":
                self.levels[subject] = body["compatibility"]
                return _ok({"compatibility": body["compatibility"]})
            if subject in self.levels:
                return _ok({"compatibilityLevel": self.levels[subject]})
            if request.query.get("defaultToGlobal") == "true":
                return _ok({"compatibilityLevel": self.global_level})
            return _error(
                404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured"
            )
        if parts[:2] == ["compatibility", "subjects"] and len(parts) >= 4 and method == "POST":
            subject = parts[2]
            messages = self._incompatibilities(subject, body)
            answer: dict[str, Any] = {"is_compatible": not messages}
            if request.query.get("verbose") == "true":
                answer["messages"] = messages
            return _ok(answer)
        return _error(404, 404, f"no such endpoint: {method} {request.path}")

    def _authorized(self, request: web.Request) -> bool:
        assert self.basic_auth is not None
        expected = base64.b64encode(":".join(self.basic_auth).encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _lookup(self, subject: str, body: dict[str, Any]) -> web.Response:
        if subject not in self.subjects:
            return _error(404, 40401, f"Subject '{subject}' not found.")
        schema_type = body.get("schemaType", "AVRO")
        for number, stored in enumerate(self.subjects[subject], start=1):
            if stored.schema_type == schema_type and _same(stored.schema, body["schema"]):
                return _ok(self._describe(subject, number, stored))
        return _error(404, 40403, "Schema not found")

    def _register(self, subject: str, body: dict[str, Any]) -> web.Response:
        schema_type = body.get("schemaType", "AVRO")
        text = body.get("schema")
        if not isinstance(text, str) or not _parses(text, schema_type):
            return _error(422, 42201, "Invalid schema")
        for stored in self.subjects.get(subject, []):
            if stored.schema_type == schema_type and _same(stored.schema, text):
                return _ok({"id": stored.id})
        messages = self._incompatibilities(subject, body)
        if messages:
            return _error(
                409,
                409,
                "Schema being registered is incompatible with an earlier schema; " + "; ".join(messages),
            )
        return _ok({"id": self.add(subject, text, schema_type)})

    def _version(self, subject: str, version: str) -> web.Response:
        versions = self.subjects.get(subject)
        if versions is None:
            return _error(404, 40401, f"Subject '{subject}' not found.")
        number = len(versions) if version == "latest" else int(version)
        if not 1 <= number <= len(versions):
            return _error(404, 40402, f"Version {version} not found.")
        return _ok(self._describe(subject, number, versions[number - 1]))

    def _by_id(self, schema_id: int) -> web.Response:
        for versions in self.subjects.values():
            for stored in versions:
                if stored.id == schema_id:
                    body: dict[str, Any] = {"schema": stored.schema}
                    if stored.schema_type != "AVRO":
                        body["schemaType"] = stored.schema_type
                    return _ok(body)
        return _error(404, 40403, f"Schema {schema_id} not found")

    def _describe(self, subject: str, number: int, stored: Stored) -> dict[str, Any]:
        described: dict[str, Any] = {
            "subject": subject,
            "version": number,
            "id": stored.id,
            "schema": stored.schema,
        }
        if stored.schema_type != "AVRO":
            described["schemaType"] = stored.schema_type
        return described

    def _incompatibilities(self, subject: str, body: dict[str, Any]) -> list[str]:
        schema_type = body.get("schemaType", "AVRO")
        previous = self.subjects.get(subject, [])
        level = self.levels.get(subject, self.global_level)
        if schema_type != "AVRO" or not previous or level == "NONE":
            return []
        against = previous if level.endswith("_TRANSITIVE") else previous[-1:]
        messages: list[str] = []
        for stored in against:
            if level.startswith(("BACKWARD", "FULL")):
                messages += _avro_incompatible(reader=body["schema"], writer=stored.schema)
            if level.startswith(("FORWARD", "FULL")):
                messages += _avro_incompatible(reader=stored.schema, writer=body["schema"])
        return messages

    def _find_any(self, text: str, schema_type: str) -> int | None:
        for versions in self.subjects.values():
            for stored in versions:
                if stored.schema_type == schema_type and _same(stored.schema, text):
                    return stored.id
        return None

    def _allocate(self) -> int:
        self._next_id += 1
        return self._next_id - 1


def _avro_incompatible(*, reader: str, writer: str) -> list[str]:
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(reader), avro.schema.parse(writer)
    )
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    return [str(m) for m in result.messages] or ["incompatible"]


def _same(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except json.JSONDecodeError:
        return a.strip() == b.strip()


def _parses(text: str, schema_type: str) -> bool:
    if schema_type not in ("AVRO", "JSON"):
        return bool(text.strip())
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return False
    if schema_type == "AVRO":
        import avro.schema

        try:
            avro.schema.parse(json.dumps(document))
        except Exception:  # avro raises several kinds for a bad schema
            return False
    return True


def _ok(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type=CONTENT_TYPE, status=200)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.Response(
        text=json.dumps({"error_code": code, "message": message}),
        status=status,
        content_type="application/json",
    )


@contextlib.contextmanager
def fake_schema_registry(registry: FakeSchemaRegistry | None = None) -> Iterator[FakeSchemaRegistry]:
    """The fake, serving on a free loopback port until the block ends."""
    state = registry or FakeSchemaRegistry()
    with serve_in_thread(state.handle, method="*", name="fake-schema-registry") as server:
        state.url = f"http://127.0.0.1:{server.port}"
        yield state
