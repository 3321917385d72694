"""ArchiverSettings: documented defaults, environment overrides, clear rejections."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer

from leaderboard.archiver.service import archiver_consumer_config
from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.core.config import PostgresSettings, load_settings
from leaderboard.core.errors import ConfigurationError


def test_defaults() -> None:
    settings = load_settings(ArchiverSettings)
    assert isinstance(settings, PostgresSettings)
    assert settings.service_name == "archiver"
    assert settings.http_port == 9102
    assert settings.archiver_group_id == "archiver"
    assert settings.archiver_migrate_on_start is True


def test_every_field_is_documented() -> None:
    undocumented = [
        name for name, field in ArchiverSettings.model_fields.items() if not field.description
    ]
    assert undocumented == []


def test_the_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_ARCHIVER_GROUP_ID", "archiver-eu")
    monkeypatch.setenv("LEADERBOARD_ARCHIVER_MIGRATE_ON_START", "false")
    settings = load_settings(ArchiverSettings)
    assert settings.archiver_group_id == "archiver-eu"
    assert settings.archiver_migrate_on_start is False


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LEADERBOARD_ARCHIVER_GROUP_ID", "g" * 256, "LEADERBOARD_ARCHIVER_GROUP_ID='ggg"),
        ("LEADERBOARD_ARCHIVER_MIGRATE_ON_START", "maybe", "is not a boolean"),
    ],
)
def test_bad_values_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(ArchiverSettings)


def test_the_consumer_may_wait_out_an_outage_without_leaving_its_group() -> None:
    settings = load_settings(ArchiverSettings, archiver_group_id="arch-test")
    config = archiver_consumer_config(settings)
    assert config["group.id"] == "arch-test"
    assert config["max.poll.interval.ms"] == 1800 * 1000
    assert config["session.timeout.ms"] == 45_000
    assert config["enable.auto.offset.store"] is False  # still core's durable-offset rules
    # librdkafka accepts it (building a client validates the configuration, offline).
    Consumer(config).close()


def test_the_operator_may_still_shorten_the_poll_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADERBOARD_KAFKA_CONSUMER_CONFIG", '{"max.poll.interval.ms": 600000}')
    config = archiver_consumer_config(load_settings(ArchiverSettings))
    assert config["max.poll.interval.ms"] == 600_000
