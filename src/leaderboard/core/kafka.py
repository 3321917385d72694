"""Kafka clients: the one place where settings become librdkafka configuration.

Every producer, consumer and admin client in the project is configured here, so the
production defaults live in one spot:

- producers are idempotent with ``acks=all`` (a delivered message is on every in-sync
  replica, and retries never duplicate it);
- consumers never auto-store offsets: a service stores an offset only after the work
  for that message is durable, and librdkafka commits only stored offsets;
- consumers use cooperative-sticky assignment, so a rebalance only moves the partitions
  that must move; the loop in ``leaderboard.core.consumer`` supplies the callbacks.

It also owns the topic layout (``TopicSpec``) and idempotent topic creation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.errors import TopicError


def connection_config(settings: LeaderboardSettings) -> dict[str, Any]:
    """Broker address, client id and security: what every client type shares."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": settings.service_name,
        "security.protocol": settings.kafka_security_protocol,
        # Fail fast on a dead broker instead of hanging a request forever.
        "socket.connection.setup.timeout.ms": 10_000,
    }
    if settings.kafka_security_protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # enforced by the settings
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_ca_location:
        config["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return config


def producer_config(settings: LeaderboardSettings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, acks=all producer that batches briefly for throughput."""
    config = connection_config(settings) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        # A message not acknowledged within this bound is reported as failed to the
        # delivery callback, so no caller waits forever on an unreachable cluster.
        "delivery.timeout.ms": 30_000,
    }
    return config | overrides


def consumer_config(
    settings: LeaderboardSettings, group_id: str, **overrides: Any
) -> dict[str, Any]:
    """A group consumer that stores offsets only when the caller says its work is durable.

    ``enable.auto.offset.store`` is off, so librdkafka never marks a message done by
    itself; the periodic auto-commit then only commits offsets the service stored after
    its write succeeded, and the loop commits synchronously on revoke and shutdown.
    """
    config = connection_config(settings) | {
        "group.id": group_id,
        "enable.auto.offset.store": False,
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 1_000,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "isolation.level": "read_committed",
        # Leave the group (and let partitions move) if the loop stalls this long.
        "max.poll.interval.ms": 300_000,
        "session.timeout.ms": settings.kafka_session_timeout_ms,
    }
    return config | overrides


def admin_config(settings: LeaderboardSettings, **overrides: Any) -> dict[str, Any]:
    """An admin client for topic management."""
    return connection_config(settings) | overrides


@dataclass(frozen=True)
class TopicSpec:
    """The layout a topic must have: name, partitions, replication and topic configs."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def topic_specs(settings: LeaderboardSettings) -> list[TopicSpec]:
    """The project's topics, named as in the original design.

    ``game-score`` is keyed by leaderboard and player, so it gets several partitions;
    ``leaderboard`` holds the latest snapshot per leaderboard, so it is compacted.
    """
    replication = settings.topic_replication_factor
    return [
        TopicSpec(settings.topic_game_score, settings.topic_game_score_partitions, replication),
        TopicSpec(settings.topic_game_score_dlq, 1, replication),
        TopicSpec(settings.topic_leaderboard_change, 1, replication),
        TopicSpec(
            settings.topic_leaderboard,
            1,
            replication,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
        ),
    ]


def ensure_topics(
    admin: AdminClient, specs: Iterable[TopicSpec], timeout: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Idempotent: an existing topic is left alone, unless it has fewer partitions than
    asked, which is reported (partitions can grow but the key-to-partition mapping
    would change under running consumers, so that is an operator's decision).
    """
    specs = list(specs)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise TopicError(f"cannot list topics: {exc}") from exc
    for spec in specs:
        if spec.name in existing and len(existing[spec.name].partitions) < spec.partitions:
            raise TopicError(
                f"topic {spec.name!r} has {len(existing[spec.name].partitions)} partitions, "
                f"fewer than the {spec.partitions} configured",
                topic=spec.name,
            )
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config=dict(spec.config),
            )
            for spec in missing
        ],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            # Another process created it between our listing and our request: fine.
            if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise TopicError(f"cannot create topic {name!r}: {exc}", topic=name) from exc
    return created
