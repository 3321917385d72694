"""The settings-to-librdkafka translation carries the production defaults."""

import pytest
from confluent_kafka import Consumer, Producer

from leaderboard.core.config import LeaderboardSettings, load_settings
from leaderboard.core.kafka import (
    admin_config,
    consumer_config,
    producer_config,
    topic_specs,
)


@pytest.fixture
def settings() -> LeaderboardSettings:
    return load_settings(LeaderboardSettings, service_name="ranker")


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


def test_topic_layout_follows_the_original_design(settings: LeaderboardSettings) -> None:
    specs = {spec.name: spec for spec in topic_specs(settings)}
    assert set(specs) == {"game-score", "game-score.dlq", "leaderboard-change", "leaderboard"}
    assert specs["game-score"].partitions == settings.topic_game_score_partitions > 1
    assert specs["leaderboard"].config["cleanup.policy"] == "compact"
