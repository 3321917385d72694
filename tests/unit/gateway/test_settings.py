"""GatewaySettings: defaults, descriptions and checks."""

from __future__ import annotations

import pytest

from leaderboard.core.config import load_settings
from leaderboard.core.errors import ConfigurationError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION
from leaderboard.core.metrics import Metrics
from leaderboard.core.web import web_server_config
from leaderboard.gateway.app import create_app
from leaderboard.gateway.main import main, server_options
from leaderboard.gateway.settings import GatewaySettings


def test_defaults() -> None:
    settings = load_settings(GatewaySettings)
    assert settings.service_name == "gateway"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)
    assert settings.gateway_ping_interval_seconds < 60
    assert settings.gateway_allowed_origins == ""


def test_every_field_is_described() -> None:
    for name, field in GatewaySettings.model_fields.items():
        assert field.description, name


def test_a_bad_origin_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_GATEWAY_ALLOWED_ORIGINS", "games.example.com")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(GatewaySettings)
    assert "LEADERBOARD_GATEWAY_ALLOWED_ORIGINS" in str(caught.value)
    assert "http://" in str(caught.value)


def test_the_ping_interval_stays_under_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_GATEWAY_PING_INTERVAL_SECONDS", "90")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(GatewaySettings)
    assert "LEADERBOARD_GATEWAY_PING_INTERVAL_SECONDS" in str(caught.value)


def test_a_bad_value_stops_the_process_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_HTTP_PORT", "abc")
    assert main([]) == EXIT_BAD_CONFIGURATION
    assert "LEADERBOARD_HTTP_PORT='abc' is not an integer" in capsys.readouterr().err


def test_uvicorn_runs_the_gateway_protocol_with_pings_and_no_compression() -> None:
    settings = load_settings(GatewaySettings, gateway_ping_interval_seconds=15)
    app = create_app(settings, Metrics("gateway"))
    config = web_server_config(settings, app, **server_options(settings))
    assert config.ws_per_message_deflate is False
    assert config.ws_ping_interval == 15
    assert config.ws_ping_timeout == 15  # a ping unanswered for one interval
    assert isinstance(config.ws, type)
    assert config.ws.__name__ == "GatewayWebSocketProtocol"
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert (config.backlog, config.proxy_headers, config.access_log) == (4096, True, False)
    # Half the 10 s bound: the app's own shutdown gets the other half.
    assert (config.lifespan, config.timeout_graceful_shutdown) == ("on", 5)
