"""DevstackSettings: defaults, paths and environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard.core.config import load_settings
from leaderboard.core.errors import ConfigurationError
from leaderboard.devstack.settings import DevstackSettings


def test_defaults_point_at_the_project_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(DevstackSettings)
    assert settings.service_name == "devstack"
    assert settings.devstack_dir == tmp_path / ".devstack"
    assert settings.downloads_dir == tmp_path / ".devstack" / "cache"
    assert settings.logs_dir == tmp_path / ".devstack" / "logs"


def test_the_cache_can_be_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_DEVSTACK_DIR", str(tmp_path / "one"))
    monkeypatch.setenv("LEADERBOARD_DEVSTACK_CACHE_DIR", str(tmp_path / "shared"))
    settings = load_settings(DevstackSettings)
    assert settings.devstack_dir == tmp_path / "one"
    assert settings.downloads_dir == tmp_path / "shared"


def test_a_bad_port_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_REDIS_PORT", "abc")
    with pytest.raises(ConfigurationError, match="LEADERBOARD_REDIS_PORT"):
        load_settings(DevstackSettings)


def test_every_devstack_field_is_described() -> None:
    for name, field in DevstackSettings.model_fields.items():
        assert field.description, name
