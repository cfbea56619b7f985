from __future__ import annotations

from pathlib import Path

import pytest

from evtool.config import find_config, load_settings
from evtool.errors import ConfigError
from evtool.modes import CompatibilityMode


def test_found_by_walking_up_to_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "evtool.toml").write_text(
        'schema_dir = "events"\ndefault_mode = "full"\n[subjects."a.b"]\nmode = "NONE"\nowner = "t"\n'
    )
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    settings = load_settings(cwd=deep)
    assert settings.schema_dir == (tmp_path / "events").resolve()
    assert settings.default_mode is CompatibilityMode.FULL
    assert settings.mode_for("a.b") is CompatibilityMode.NONE
    assert settings.mode_for("other") is CompatibilityMode.FULL
    assert settings.owner_of("a.b") == "t"


def test_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "evtool.toml").write_text('default_mode = "FULL"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert find_config(repo) is None
    assert load_settings(cwd=repo).default_mode is CompatibilityMode.BACKWARD


def test_pyproject_tool_table_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n[tool.evtool]\ndefault_mode = "FORWARD"\n')
    assert load_settings(cwd=tmp_path).default_mode is CompatibilityMode.FORWARD


def test_pyproject_without_tool_table_is_not_a_config(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n')
    assert find_config(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('schema_dirr = "x"\n', "unknown key 'schema_dirr'"),
        ('default_mode = "SIDEWAYS"\n', "key 'default_mode': unknown compatibility mode 'SIDEWAYS'"),
        ('[subjects."a"]\nmode = "FULL"\ncolour = "red"\n', "unknown key 'subjects.a.colour'"),
        ('[subjects."a"]\nformat = "yaml"\n', "key 'subjects.a.format'"),
        ("default_mode = \n", "invalid TOML"),
    ],
)
def test_bad_keys_and_values_name_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "evtool.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert expected in str(caught.value)
    assert str(config) in str(caught.value)


def test_modes_accept_any_case_and_dashes() -> None:
    assert CompatibilityMode.parse("full-transitive") is CompatibilityMode.FULL_TRANSITIVE
    assert CompatibilityMode.FULL_TRANSITIVE.checks_backward
    assert CompatibilityMode.FULL_TRANSITIVE.checks_forward
    assert not CompatibilityMode.FORWARD.checks_backward
    assert CompatibilityMode.BACKWARD_TRANSITIVE.transitive
    assert not CompatibilityMode.NONE.checks_backward
