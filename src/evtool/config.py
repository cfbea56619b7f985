"""Settings from evtool.toml or [tool.evtool] in pyproject.toml.

Found by walking up from the working directory to the repository root, the way ruff and
pytest find theirs, so `evtool` behaves the same from any folder of a repository.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evtool.errors import ConfigError
from evtool.modes import CompatibilityMode

CONFIG_FILE = "evtool.toml"
_TOP_KEYS = {"schema_dir", "default_mode", "subjects", "kafka", "registry", "lint"}
_SUBJECT_KEYS = {"mode", "owner", "format", "weight", "topic", "registry_subject", "lint"}
_LINT_KEYS = {"use", "except"}
_SUBJECT_LINT_KEYS = {"except", "ignore"}
_REGISTRY_KEYS = {"url", "naming", "username", "password", "token", "ca", "insecure"}
NAMING_STRATEGIES = ("topic", "record", "topic_record")
_FORMATS = {"avro", "json", "protobuf"}


@dataclass(frozen=True, slots=True)
class SubjectSettings:
    mode: CompatibilityMode | None = None
    owner: str | None = None
    format: str | None = None
    weight: float | None = None  # share in the default mix of generate/simulate; None: 1
    topic: str | None = None  # the Kafka topic its events go to (registry subject naming)
    registry_subject: str | None = None  # the registry subject it is, when naming cannot tell
    lint_except: tuple[str, ...] = ()  # lint rule codes not applied to this subject
    lint_ignore: dict[str, str] = field(default_factory=dict)  # rule code -> why its findings are accepted


@dataclass(frozen=True, slots=True)
class LintConfig:
    """[lint]: the rule set (a group: MINIMAL, BASIC, STANDARD) and codes left out everywhere."""

    use: str = "STANDARD"
    except_: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """[registry]: where the Schema Registry is; secrets are `env:VAR` references, never values."""

    url: str | None = None
    naming: str = "topic"  # TopicNameStrategy, like the registry's serializers by default
    username: str | None = None
    password: str | None = None
    token: str | None = None
    ca: Path | None = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    schema_dir: Path
    default_mode: CompatibilityMode = CompatibilityMode.BACKWARD
    subjects: dict[str, SubjectSettings] = field(default_factory=dict)
    source: Path | None = None  # the file these came from; None when defaults were used
    # [kafka]: librdkafka properties (bootstrap.servers, security.protocol, sasl.*); secrets as "env:VAR"
    kafka: dict[str, str] = field(default_factory=dict)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    lint: LintConfig = field(default_factory=LintConfig)

    def mode_for(self, subject: str) -> CompatibilityMode:
        configured = self.subjects.get(subject)
        if configured is not None and configured.mode is not None:
            return configured.mode
        return self.default_mode

    def weight_of(self, subject: str) -> float:
        """The subject's share in the default mix (`weight` of its table, else 1)."""
        configured = self.subjects.get(subject)
        return configured.weight if configured is not None and configured.weight is not None else 1.0

    def owner_of(self, subject: str) -> str | None:
        configured = self.subjects.get(subject)
        return configured.owner if configured else None


def find_config(start: Path) -> Path | None:
    """The nearest evtool.toml, or pyproject.toml with [tool.evtool], up to the repository root."""
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "evtool" in _read_toml(pyproject).get("tool", {}):
            return pyproject
        if (folder / ".git").exists():
            return None
    return None


def load_settings(config: Path | None = None, *, cwd: Path | None = None) -> Settings:
    """Settings from `config`, else from the nearest config file, else the defaults."""
    here = cwd or Path.cwd()
    if config is not None and not config.is_file():
        raise ConfigError(f"{config}: config file not found", hint="check the --config path")
    path = config or find_config(here)
    if path is None:
        return Settings(schema_dir=here / "schemas")
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("evtool", {})
        where = f"{path} [tool.evtool]"
    else:
        where = str(path)
    return _settings_from(data, base=path.parent, where=where, source=path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the syntax") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition
        raise ConfigError(
            f"{path}: not UTF-8 (at byte offset {exc.start})", hint="save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _settings_from(data: dict[str, Any], *, base: Path, where: str, source: Path) -> Settings:
    _reject_unknown(data, _TOP_KEYS, where, prefix="")
    schema_dir = data.get("schema_dir", "schemas")
    if not isinstance(schema_dir, str) or not schema_dir:
        raise ConfigError(f"{where}: key 'schema_dir' must be a non-empty string path")
    default_mode = _mode(data.get("default_mode", "BACKWARD"), where, "default_mode")
    subjects_table = data.get("subjects", {})
    if not isinstance(subjects_table, dict):
        raise ConfigError(f"{where}: key 'subjects' must be a table of [subjects.\"<name>\"]")
    subjects: dict[str, SubjectSettings] = {}
    for name, table in subjects_table.items():
        key = f"subjects.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: key '{key}' must be a table with mode/owner/format")
        _reject_unknown(table, _SUBJECT_KEYS, where, prefix=f"{key}.")
        mode = _mode(table["mode"], where, f"{key}.mode") if "mode" in table else None
        fmt = table.get("format")
        if fmt is not None and fmt not in _FORMATS:
            raise ConfigError(f"{where}: key '{key}.format' is {fmt!r}; use 'avro', 'json' or 'protobuf'")
        owner = table.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise ConfigError(f"{where}: key '{key}.owner' must be a string")
        weight = table.get("weight")
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < float("inf")
        ):
            raise ConfigError(f"{where}: key '{key}.weight' must be a positive number, e.g. weight = 70")
        for text_key in ("topic", "registry_subject"):
            if text_key in table and (not isinstance(table[text_key], str) or not table[text_key]):
                raise ConfigError(f"{where}: key '{key}.{text_key}' must be a non-empty string")
        lint_except, lint_ignore = _subject_lint(table.get("lint", {}), where, key)
        subjects[name] = SubjectSettings(
            mode=mode, owner=owner, format=fmt, weight=None if weight is None else float(weight),
            topic=table.get("topic"), registry_subject=table.get("registry_subject"),
            lint_except=lint_except, lint_ignore=lint_ignore,
        )
    return Settings(
        schema_dir=(base / schema_dir).resolve(),
        default_mode=default_mode,
        subjects=subjects,
        source=source,
        kafka=_kafka_table(data.get("kafka", {}), where),
        registry=_registry_table(data.get("registry", {}), where, base),
        lint=_lint_table(data.get("lint", {}), where),
    )


_RULE_CODE = re.compile(r"^EV\d{3}$")
_LINT_GROUPS = ("MINIMAL", "BASIC", "STANDARD")


def _codes(value: object, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _RULE_CODE.match(v) for v in value):
        raise ConfigError(f"{where}: key '{key}' must be a list of rule codes like [\"EV202\"]",
                          hint="evtool schema lint --list-rules shows them")
    return tuple(value)


def _lint_table(table: object, where: str) -> LintConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: key 'lint' must be a table (use, except)")
    _reject_unknown(table, _LINT_KEYS, where, prefix="lint.")
    use = table.get("use", "STANDARD")
    if use not in _LINT_GROUPS:
        raise ConfigError(f"{where}: key 'lint.use' is {use!r}; use one of {', '.join(_LINT_GROUPS)}")
    return LintConfig(use=use, except_=_codes(table.get("except", []), where, "lint.except"))


def _subject_lint(table: object, where: str, key: str) -> tuple[tuple[str, ...], dict[str, str]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: key '{key}.lint' must be a table (except, ignore)")
    _reject_unknown(table, _SUBJECT_LINT_KEYS, where, prefix=f"{key}.lint.")
    ignore = table.get("ignore", {})
    if not isinstance(ignore, dict):
        raise ConfigError(f"{where}: key '{key}.lint.ignore' must be a table of code = \"reason\"")
    for code, reason in ignore.items():
        if not _RULE_CODE.match(code):
            raise ConfigError(f"{where}: key '{key}.lint.ignore.{code}' is not a rule code like EV202")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: key '{key}.lint.ignore.{code}' needs the reason it is accepted",
                              hint=f'write {code} = "why this is fine here"')
    return _codes(table.get("except", []), where, f"{key}.lint.except"), dict(ignore)


def _registry_table(table: object, where: str, base: Path) -> RegistryConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: key 'registry' must be a table (url, naming, username, password, ...)")
    _reject_unknown(table, _REGISTRY_KEYS, where, prefix="registry.")
    for key in ("url", "username", "password", "token", "ca"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"{where}: key 'registry.{key}' must be a string")
    for key in ("password", "token"):
        if key in table and not table[key].startswith("env:"):
            raise ConfigError(f"{where}: key 'registry.{key}' holds a secret in the file",
                              hint=f'write {key} = "env:VAR" and export VAR instead')
    naming = table.get("naming", "topic")
    if naming not in NAMING_STRATEGIES:
        choices = ", ".join(NAMING_STRATEGIES)
        raise ConfigError(f"{where}: key 'registry.naming' is {naming!r}; use one of {choices}")
    insecure = table.get("insecure", False)
    if not isinstance(insecure, bool):
        raise ConfigError(f"{where}: key 'registry.insecure' must be true or false")
    return RegistryConfig(
        url=table.get("url"),
        naming=naming,
        username=table.get("username"),
        password=table.get("password"),
        token=table.get("token"),
        ca=(base / table["ca"]).resolve() if "ca" in table else None,
        insecure=insecure,
    )


_SECRET_PROPERTY = re.compile(r"password|secret|jaas", re.IGNORECASE)


def _kafka_table(table: object, where: str) -> dict[str, str]:
    """[kafka] flattened to librdkafka names (`security.protocol = ...` is a nested table in TOML)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: key 'kafka' must be a table of librdkafka properties")
    out: dict[str, str] = {}

    def flatten(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                flatten(f"{prefix}.{name}" if prefix else str(name), inner)
            return
        if isinstance(value, bool):
            out[prefix] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[prefix] = str(value)
        else:
            raise ConfigError(f"{where}: key 'kafka.{prefix}' must be a string, number or boolean")

    flatten("", table)
    for name, value in out.items():
        if _SECRET_PROPERTY.search(name) and not value.startswith("env:"):
            raise ConfigError(f"{where}: key 'kafka.{name}' holds a secret in the file",
                              hint=f'write {name} = "env:VAR" and export VAR instead')
    return out


def _reject_unknown(table: dict[str, Any], known: set[str], where: str, *, prefix: str) -> None:
    for key in table:
        if key not in known:
            valid = ", ".join(sorted(known))
            raise ConfigError(f"{where}: unknown key '{prefix}{key}' (valid keys: {valid})")


def _mode(value: object, where: str, key: str) -> CompatibilityMode:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: key '{key}' must be a mode name string")
    try:
        return CompatibilityMode.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: key '{key}': {exc}") from None
