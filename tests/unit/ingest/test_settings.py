"""IngestSettings: defaults, and no start without API keys."""

from __future__ import annotations

import pytest

from leaderboard.core.config import load_settings
from leaderboard.core.errors import ConfigurationError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION
from leaderboard.ingest.main import main
from leaderboard.ingest.settings import IngestSettings

KEY = "game-key-0123456789abcdef"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", f"game:{KEY}")
    settings = load_settings(IngestSettings)
    assert settings.service_name == "ingest"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8001)
    assert settings.ingest_max_batch_events == 500
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.ingest_request_timeout_seconds == 5.0
    assert settings.keyring().names == ["game"]
    assert KEY not in repr(settings)


def test_a_larger_batch_limit_allows_a_larger_body() -> None:
    settings = IngestSettings(ingest_api_keys=f"game:{KEY}", ingest_max_batch_events=10_000)
    assert settings.max_body_bytes == 10_000 * 2048


def test_every_field_is_described() -> None:
    for name, field in IngestSettings.model_fields.items():
        assert field.description, name


def test_without_keys_the_service_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(IngestSettings)
    assert "LEADERBOARD_INGEST_API_KEYS is required" in str(caught.value)


def test_a_malformed_key_list_is_reported_without_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", f"game{KEY}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(IngestSettings)
    assert "LEADERBOARD_INGEST_API_KEYS: entry 1 is not a name:key pair" in caught.value.problems
    assert KEY not in str(caught.value)


def test_disabling_an_undefined_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", f"game:{KEY}")
    monkeypatch.setenv("LEADERBOARD_INGEST_DISABLED_KEYS", "gmae")
    with pytest.raises(ConfigurationError, match="LEADERBOARD_INGEST_DISABLED_KEYS"):
        load_settings(IngestSettings)


def test_main_without_keys_exits_2_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == EXIT_BAD_CONFIGURATION
    assert "LEADERBOARD_INGEST_API_KEYS is required" in capsys.readouterr().err


ADMIN_KEY = "admin-key-0123456789abcdef"


def test_admin_keys_are_optional_and_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", f"game:{KEY}")
    assert load_settings(IngestSettings).admin_keyring() is None
    monkeypatch.setenv("LEADERBOARD_INGEST_ADMIN_KEYS", f"ops:{ADMIN_KEY}")
    settings = load_settings(IngestSettings)
    admin = settings.admin_keyring()
    assert admin is not None
    assert admin.names == ["ops"]
    assert ADMIN_KEY not in repr(settings)


def test_a_key_both_for_scores_and_admin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", f"game:{KEY}")
    monkeypatch.setenv("LEADERBOARD_INGEST_ADMIN_KEYS", f"ops:{ADMIN_KEY},root:{KEY}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(IngestSettings)
    message = str(caught.value)
    assert "LEADERBOARD_INGEST_ADMIN_KEYS and LEADERBOARD_INGEST_API_KEYS share a key" in message
    assert "'root' (admin) and 'game'" in message
    assert KEY not in message


def test_the_postgres_connection_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", f"game:{KEY}")
    monkeypatch.setenv("LEADERBOARD_POSTGRES_HOST", "db.internal")
    assert load_settings(IngestSettings).postgres_host == "db.internal"
