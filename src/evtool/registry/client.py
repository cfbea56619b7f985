"""The Confluent Schema Registry REST API, as far as schema governance needs it.

Request/response work, so a plain synchronous httpx client: one connection, a handful of calls
per subject. The registry's errors are handled by their documented `error_code` names, never by
matching message text (registries word their messages differently; Apicurio sends none).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from evtool.config import Settings
from evtool.errors import EvtoolError, ExitCode, UsageError

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryErrorCode(IntEnum):
    """The registry's documented error codes (HTTP status times 100 plus a detail digit)."""

    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED = 40408
    INCOMPATIBLE_SCHEMA = 40901
    INCOMPATIBLE_SCHEMA_LEGACY = 409  # what older registries send for the same thing
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY_LEVEL = 42203
    BACKEND_STORE_ERROR = 50001
    OPERATION_TIMEOUT = 50002
    FORWARDING_ERROR = 50003


class RegistryError(EvtoolError):
    """The registry answered with an error, or could not be reached."""

    exit_code = ExitCode.USAGE

    def __init__(
        self, message: str, *, hint: str | None = None, code: int | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status

    @property
    def name(self) -> str:
        """The error code's name (`SUBJECT_NOT_FOUND`), or the HTTP status when it has none."""
        if self.incompatible:
            return RegistryErrorCode.INCOMPATIBLE_SCHEMA.name  # one name for both spellings
        if self.code is not None:
            try:
                return RegistryErrorCode(self.code).name
            except ValueError:
                return str(self.code)
        return f"HTTP {self.status}" if self.status is not None else "unreachable"

    @property
    def incompatible(self) -> bool:
        return self.code in (
            RegistryErrorCode.INCOMPATIBLE_SCHEMA,
            RegistryErrorCode.INCOMPATIBLE_SCHEMA_LEGACY,
        )

    @property
    def not_found(self) -> bool:
        return self.code in (
            RegistryErrorCode.SUBJECT_NOT_FOUND,
            RegistryErrorCode.VERSION_NOT_FOUND,
            RegistryErrorCode.SCHEMA_NOT_FOUND,
        )


@dataclass(frozen=True, slots=True)
class Reference:
    name: str
    subject: str
    version: int


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    """One version of one registry subject, as the registry keeps it."""

    subject: str
    version: int
    id: int
    schema_type: str  # AVRO (the registry leaves it out), JSON or PROTOBUF
    schema: str
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemaById:
    """What `GET /schemas/ids/{id}` answers: the schema a wire-format value names, without subject."""

    id: int
    schema_type: str  # AVRO (the registry leaves it out), JSON or PROTOBUF
    schema: str
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True, slots=True)
class CompatibilityAnswer:
    """The registry's own verdict on a candidate schema (`messages` empty where it gives none)."""

    compatible: bool
    messages: tuple[str, ...] = ()


def resolve_secret(value: str | None, *, where: str) -> str | None:
    """`env:VAR` read from the environment at the moment of use; never stored elsewhere."""
    if value is None:
        return None
    if not value.startswith("env:"):
        raise UsageError(f"{where} holds a secret in the file", hint='write "env:VAR" and export VAR instead')
    name = value[4:]
    secret = os.environ.get(name)
    if not secret:
        raise UsageError(f"{where}: environment variable {name} is not set", hint=f"export {name}=...")
    return secret


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Basic (API key and secret) or bearer auth; values are `env:VAR` references, resolved on use."""

    username: str | None = None
    password: str | None = None  # env:VAR
    token: str | None = None  # env:VAR

    def resolve(self) -> httpx.Auth | dict[str, str] | None:
        if self.token is not None:
            return {"Authorization": f"Bearer {resolve_secret(self.token, where='registry.token')}"}
        if self.username is not None:
            user = self.username
            if user.startswith("env:"):
                user = resolve_secret(user, where="registry.username") or ""
            password = resolve_secret(self.password, where="registry.password") or ""
            return httpx.BasicAuth(user, password)
        return None


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """Where the registry is and how to reach it ([registry] in evtool.toml, --registry)."""

    url: str
    auth: RegistryAuth = field(default_factory=RegistryAuth)
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_s: float = 10.0


def registry_disabled(value: str | None) -> bool:
    """`--registry off`: plain values although evtool.toml's [registry] url would frame them."""
    return value is not None and value.strip().lower() in ("off", "none")


def registry_settings(url: str | None, settings: Settings) -> RegistrySettings:
    """`--registry URL` (or [registry] url) with [registry]'s auth and TLS; one line, exit 2, when
    neither names a registry. Secrets stay `env:VAR` references: this is safe to pickle and pass on."""
    configured = settings.registry
    chosen = url or configured.url
    if not chosen:
        raise UsageError(
            "no schema registry given",
            hint="pass --registry URL or set url in the [registry] table of evtool.toml",
        )
    if not chosen.startswith(("http://", "https://")):
        raise UsageError(f"--registry {chosen!r}: expected an http:// or https:// URL")
    return RegistrySettings(
        url=chosen,
        auth=RegistryAuth(configured.username, configured.password, configured.token),
        ca_file=configured.ca,
        verify_tls=not configured.insecure,
    )


def registry_client(url: str | None, settings: Settings) -> RegistryClient:
    """The client for `--registry URL` or [registry] url; one line and exit 2 when neither is set."""
    return RegistryClient(registry_settings(url, settings))


class RegistryClient:
    """A few calls of the REST API; every error raised as RegistryError with its code's name."""

    def __init__(self, settings: RegistrySettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = settings.url.rstrip("/")
        auth = settings.auth.resolve()
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE}
        if isinstance(auth, dict):
            headers.update(auth)
            auth = None
        verify: bool | str = str(settings.ca_file) if settings.ca_file else settings.verify_tls
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            auth=auth,
            verify=verify,
            timeout=settings.timeout_s,
            transport=transport,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reading --------------------------------------------------------------------------------

    def subjects(self) -> list[str]:
        return [str(s) for s in self._call("GET", "/subjects")]

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers, [] when the registry has no such subject."""
        try:
            return sorted(int(v) for v in self._call("GET", f"/subjects/{_seg(subject)}/versions"))
        except RegistryError as exc:
            if exc.code == RegistryErrorCode.SUBJECT_NOT_FOUND:
                return []
            raise

    def schema(self, subject: str, version: int | str) -> RegisteredSchema:
        body = self._call("GET", f"/subjects/{_seg(subject)}/versions/{version}")
        return _registered(body, subject)

    def schema_by_id(self, schema_id: int) -> SchemaById:
        """The schema behind a wire-format value's id (RegistryError SCHEMA_NOT_FOUND when none)."""
        body = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        return SchemaById(
            id=int(schema_id),
            schema_type=str(body.get("schemaType") or "AVRO"),
            schema=str(body["schema"]),
            references=_references(body),
        )

    def level(self, subject: str) -> str:
        """The subject's compatibility level, the global one when it has none of its own."""
        body = self._call("GET", f"/config/{_seg(subject)}", params={"defaultToGlobal": "true"})
        level = body.get("compatibilityLevel") or body.get("compatibility")
        if not isinstance(level, str):
            raise RegistryError(f"{self.url}: /config/{subject} gave no compatibilityLevel")
        return level

    def lookup(self, subject: str, schema: str, schema_type: str) -> RegisteredSchema | None:
        """The registered version holding exactly this schema, None when it is not registered."""
        try:
            body = self._call("POST", f"/subjects/{_seg(subject)}", json=_payload(schema, schema_type))
        except RegistryError as exc:
            if exc.code in (RegistryErrorCode.SUBJECT_NOT_FOUND, RegistryErrorCode.SCHEMA_NOT_FOUND):
                return None
            raise
        return _registered(body, subject)

    def check_compatibility(self, subject: str, schema: str, schema_type: str) -> CompatibilityAnswer:
        """The registry's verdict against the versions its level names (all of them when transitive)."""
        body = self._call(
            "POST",
            f"/compatibility/subjects/{_seg(subject)}/versions",
            params={"verbose": "true"},
            json=_payload(schema, schema_type),
        )
        messages = body.get("messages") or []
        return CompatibilityAnswer(bool(body.get("is_compatible")), tuple(str(m) for m in messages))

    # -- writing --------------------------------------------------------------------------------

    def register(self, subject: str, schema: str, schema_type: str) -> int:
        """Registers a new version (or finds the same schema again: the registry is idempotent)."""
        body = self._call("POST", f"/subjects/{_seg(subject)}/versions", json=_payload(schema, schema_type))
        return int(body["id"])

    def set_level(self, subject: str, level: str) -> None:
        self._call("PUT", f"/config/{_seg(subject)}", json={"compatibility": level})

    # -- plumbing -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"schema registry {self.url} unreachable: {exc.__class__.__name__}: {exc}",
                hint="check the URL (--registry or [registry] url in evtool.toml) and that it is up",
            ) from None
        try:
            body = response.json() if response.content else {}
        except json.JSONDecodeError:
            body = None
        if response.is_success and body is not None:
            return body
        code = body.get("error_code") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        error = RegistryError(
            f"schema registry {method} {path}: HTTP {response.status_code}"
            + (f" {message}" if message else ""),
            code=int(code) if isinstance(code, int) else None,
            status=response.status_code,
            hint=_hint_for(response.status_code),
        )
        raise error


def _seg(subject: str) -> str:
    return quote(subject, safe="")


def _payload(schema: str, schema_type: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"schema": schema}
    if schema_type != "AVRO":  # the registry's default; some registries refuse an explicit AVRO on old APIs
        payload["schemaType"] = schema_type
    return payload


def _references(body: Any) -> tuple[Reference, ...]:
    return tuple(
        Reference(str(r["name"]), str(r["subject"]), int(r["version"])) for r in body.get("references") or ()
    )


def _registered(body: Any, subject: str) -> RegisteredSchema:
    references = _references(body)
    return RegisteredSchema(
        subject=str(body.get("subject", subject)),
        version=int(body["version"]),
        id=int(body["id"]),
        schema_type=str(body.get("schemaType") or "AVRO"),
        schema=str(body["schema"]),
        references=references,
    )


def _hint_for(status: int) -> str | None:
    if status in (401, 403):
        return 'check the credentials: [registry] username/password or token = "env:VAR" in evtool.toml'
    if status >= 500:
        return "the registry failed; try again, or ask its operators"
    return None
