"""The settings-to-librdkafka translation carries the production defaults."""

from typing import ClassVar

import pytest
from confluent_kafka import Consumer, Producer

from leaderboard.core.config import LeaderboardSettings, load_settings
from leaderboard.core.kafka import (
    admin_config,
    consumer_config,
    producer_config,
)


class RankerLike(LeaderboardSettings):
    service_name: ClassVar[str] = "ranker"


@pytest.fixture
def settings() -> LeaderboardSettings:
    return load_settings(RankerLike)


def test_producer_is_idempotent_with_acks_all(settings: LeaderboardSettings) -> None:
    config = producer_config(settings)
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["bootstrap.servers"] == "127.0.0.1:9092"
    assert config["client.id"] == "ranker"


def test_consumer_stores_offsets_only_when_told(settings: LeaderboardSettings) -> None:
    config = consumer_config(settings, "ranker")
    assert config["group.id"] == "ranker"
    assert config["enable.auto.offset.store"] is False
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert config["isolation.level"] == "read_committed"


def test_overrides_replace_defaults(settings: LeaderboardSettings) -> None:
    assert producer_config(settings, **{"linger.ms": 50})["linger.ms"] == 50
    assert (
        consumer_config(settings, "g", **{"auto.offset.reset": "latest"})["auto.offset.reset"]
        == "latest"
    )


def test_librdkafka_accepts_every_generated_config(settings: LeaderboardSettings) -> None:
    # Constructing real clients makes librdkafka validate every key and value; no broker
    # is contacted before the first request.
    Producer(producer_config(settings)).flush(0)
    Consumer(consumer_config(settings, "validation")).close()
    assert admin_config(settings)["bootstrap.servers"] == settings.kafka_bootstrap_servers


def test_sasl_credentials_are_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEADERBOARD_KAFKA_SASL_USERNAME", "ranker")
    monkeypatch.setenv("LEADERBOARD_KAFKA_SASL_PASSWORD", "s3cret")
    config = producer_config(load_settings(LeaderboardSettings))
    assert config["sasl.password"] == "s3cret"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"


def test_the_operator_s_properties_win_over_every_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "LEADERBOARD_KAFKA_CONSUMER_CONFIG",
        '{"session.timeout.ms": 6000, "max.poll.interval.ms": 600000}',
    )
    monkeypatch.setenv("LEADERBOARD_KAFKA_PRODUCER_CONFIG", '{"linger.ms": 20}')
    settings = load_settings(LeaderboardSettings)
    # project default < the service's own default < the operator's pass-through
    assert consumer_config(settings, "g")["session.timeout.ms"] == 6000
    consumer = consumer_config(settings, "g", **{"max.poll.interval.ms": 1_800_000})
    assert consumer["max.poll.interval.ms"] == 600_000
    assert consumer["enable.auto.offset.store"] is False
    assert producer_config(settings, **{"linger.ms": 1})["linger.ms"] == 20
    assert "linger.ms" not in consumer_config(settings, "g")
    assert "session.timeout.ms" not in producer_config(settings)
    assert "session.timeout.ms" not in admin_config(settings)
    Producer(producer_config(settings)).flush(0)
    Consumer(consumer_config(settings, "validation")).close()


def test_defaults_without_pass_through(settings: LeaderboardSettings) -> None:
    assert consumer_config(settings, "g")["session.timeout.ms"] == 45_000
