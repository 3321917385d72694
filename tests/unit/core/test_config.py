"""Settings read the environment, reject bad values clearly, and never echo secrets."""

from typing import ClassVar

import pytest
from pydantic import SecretStr

from leaderboard.core.config import (
    LeaderboardSettings,
    PostgresSettings,
    RedisSettings,
    load_settings,
)
from leaderboard.core.errors import ConfigurationError, LeaderboardError


class AllSettings(RedisSettings, PostgresSettings):
    """A service that needs everything, like the devstack."""


def test_defaults_point_at_the_local_stack() -> None:
    settings = load_settings(AllSettings)
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.redis_host == "127.0.0.1"
    assert settings.redis_port == 6379
    assert settings.postgres_port == 5432
    assert settings.topic_game_score == "game-score"
    assert settings.topic_leaderboard_change == "leaderboard-change"
    assert settings.topic_leaderboard == "leaderboard"
    assert settings.topic_game_score_dlq == "game-score.dlq"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_REDIS_PORT", "6380")
    monkeypatch.setenv("LEADERBOARD_TOPIC_GAME_SCORE", "scores")
    monkeypatch.setenv("leaderboard_log_level", "DEBUG")  # names are case-insensitive
    settings = load_settings(AllSettings)
    assert settings.redis_port == 6380
    assert settings.topic_game_score == "scores"
    assert settings.log_level == "DEBUG"


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_LOG_LEVEL", "DEBUG")
    assert load_settings(LeaderboardSettings, log_level="ERROR").log_level == "ERROR"


def test_the_service_name_is_the_class_s_not_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    class RankerLike(LeaderboardSettings):
        service_name: ClassVar[str] = "ranker"

    monkeypatch.setenv("LEADERBOARD_SERVICE_NAME", "from-env")
    assert load_settings(RankerLike).service_name == "ranker"
    assert "service_name" not in RankerLike.model_fields


def test_kafka_pass_through_reads_a_json_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "LEADERBOARD_KAFKA_CONSUMER_CONFIG",
        '{"session.timeout.ms": 6000, "check.crcs": true, "client.rack": "eu-1a"}',
    )
    settings = load_settings(LeaderboardSettings)
    assert settings.kafka_consumer_config == {
        "session.timeout.ms": 6000,
        "check.crcs": True,
        "client.rack": "eu-1a",
    }
    assert settings.kafka_producer_config == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("session.timeout.ms=6000", "must be a JSON object of librdkafka properties"),
        ('["linger.ms", 5]', "must be a JSON object of librdkafka properties"),
        ('{"linger.ms": [5]}', "sets 'linger.ms' to list: use a string, number or boolean"),
        ('{"linger.ms": null}', "sets 'linger.ms' to NoneType"),
        ('{"acks": "1", "linger.ms": 5}', "may not set acks: the services set it themselves"),
        ('{"enable.auto.commit": false}', "may not set enable.auto.commit"),
        ('{"isolation.level": "read_uncommitted"}', "may not set isolation.level"),
        (
            '{"group.id": "other", "bootstrap.servers": "x:1"}',
            "may not set bootstrap.servers, group.id",
        ),
        ('{"sasl.password": "hunter2"}', "may not set sasl.password"),
    ],
)
def test_bad_kafka_pass_through_fails_naming_the_variable_without_its_value(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("LEADERBOARD_KAFKA_PRODUCER_CONFIG", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(LeaderboardSettings)
    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith("LEADERBOARD_KAFKA_PRODUCER_CONFIG=<hidden> ")
    assert expected in problem
    assert "hunter2" not in str(caught.value)


def test_non_integer_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_REDIS_PORT", "abc")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(RedisSettings)
    assert caught.value.problems == ["LEADERBOARD_REDIS_PORT='abc' is not an integer"]
    assert isinstance(caught.value, LeaderboardError)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LEADERBOARD_HTTP_PORT", "70000", "LEADERBOARD_HTTP_PORT='70000' must be less"),
        ("LEADERBOARD_LOG_LEVEL", "LOUD", "LEADERBOARD_LOG_LEVEL='LOUD' is not one of"),
        ("LEADERBOARD_REDIS_SSL", "maybe", "LEADERBOARD_REDIS_SSL='maybe' is not a boolean"),
        (
            "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS",
            "soon",
            "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS='soon' is not a number",
        ),
        (
            "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS",
            "localhost",
            "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS='localhost' must be a comma-separated host:port",
        ),
        (
            "LEADERBOARD_TOPIC_LEADERBOARD",
            "bad topic!",
            "LEADERBOARD_TOPIC_LEADERBOARD='bad topic!'",
        ),
        (
            "LEADERBOARD_SCORE_MAX",
            str(2**53),
            "LEADERBOARD_SCORE_MAX='9007199254740992' must be within the contract limits "
            "[-9007199254740991, 9007199254740991]",
        ),
        (
            "LEADERBOARD_SCORE_MIN",
            str(-(2**53)),
            "LEADERBOARD_SCORE_MIN='-9007199254740992' must be within the contract limits",
        ),
    ],
)
def test_bad_values_are_explained(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(AllSettings)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected)


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_REDIS_PORT", "abc")
    monkeypatch.setenv("LEADERBOARD_POSTGRES_PORT", "-1")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(AllSettings)
    assert {problem.split("=")[0] for problem in caught.value.problems} == {
        "LEADERBOARD_REDIS_PORT",
        "LEADERBOARD_POSTGRES_PORT",
    }
    assert "LEADERBOARD_REDIS_PORT" in str(caught.value)


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    class WithRequiredSecret(LeaderboardSettings):
        api_secret: SecretStr

    monkeypatch.setenv("LEADERBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEADERBOARD_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("LEADERBOARD_KAFKA_SASL_PASSWORD", "hunter2")
    settings = load_settings(LeaderboardSettings)
    assert "hunter2" not in repr(settings)
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "hunter2"

    with pytest.raises(ConfigurationError) as caught:
        load_settings(WithRequiredSecret)
    assert caught.value.problems == ["LEADERBOARD_API_SECRET=<hidden> is required but not set"]


def test_sasl_requires_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigurationError, match="needs LEADERBOARD_KAFKA_SASL_USERNAME"):
        load_settings(LeaderboardSettings)


def test_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_REDIS_PASSWORD", "")
    monkeypatch.setenv("LEADERBOARD_REDIS_PORT", "")
    settings = load_settings(RedisSettings)
    assert settings.redis_password is None
    assert settings.redis_port == 6379


def test_settings_are_immutable() -> None:
    settings = load_settings(LeaderboardSettings)
    with pytest.raises(ValueError, match="frozen"):
        settings.http_port = 1  # type: ignore[misc]
