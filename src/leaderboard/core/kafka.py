"""Kafka clients: the one place where settings become librdkafka configuration.

The production defaults behind docs/architecture.md's "Delivery guarantees" live here.
"""

from __future__ import annotations

from typing import Any

from leaderboard.core.config import LeaderboardSettings

#: How long a consumer that vanished (crash, SIGKILL) keeps its partitions before the
#: group moves them; lower means faster takeover, more false alarms.
SESSION_TIMEOUT_MS = 45_000
#: Bound on a produced message's delivery: past it the delivery callback reports failure.
DELIVERY_TIMEOUT_MS = 30_000


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
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
    }
    return config | overrides | settings.kafka_producer_config


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
        "session.timeout.ms": SESSION_TIMEOUT_MS,
    }
    return config | overrides | settings.kafka_consumer_config


def admin_config(settings: LeaderboardSettings, **overrides: Any) -> dict[str, Any]:
    """An admin client: the connection only (the pass-through properties are for clients)."""
    return connection_config(settings) | overrides
