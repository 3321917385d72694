"""The one Kafka consumer thread of a gateway process: snapshots from ``leaderboard``.

Assigned by hand, never committed (see docs/api.md, "Inside a gateway process").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka import KafkaError as LibrdkafkaError
from pydantic import ValidationError

from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.events import LeaderboardSnapshot
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health
from leaderboard.core.topic_reader import TopicReader, private_group_id
from leaderboard.gateway.messages import Update
from leaderboard.gateway.metrics import GatewayMetrics
from leaderboard.gateway.settings import GatewaySettings

log = get_logger(__name__)

#: Snapshots re-read per partition at start, before the end: covers snapshots published
#: while the gateway started (on Kafka but not yet in the Redis cache). Versions make the
#: replay harmless.
REPLAY_MESSAGES = 1000


def decode_snapshot(message: KafkaMessage, metrics: GatewayMetrics) -> LeaderboardSnapshot | None:
    """The snapshot in ``message``, or None (logged with its coordinates) when invalid."""
    try:
        return LeaderboardSnapshot.model_validate_json(message.value() or b"")
    except ValidationError as exc:
        metrics.snapshots_received.labels(outcome="invalid").inc()
        log.warning(
            "skipping an invalid snapshot",
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            error=str(exc).splitlines()[0],
        )
        return None


def newest_per_leaderboard(snapshots: list[LeaderboardSnapshot]) -> list[LeaderboardSnapshot]:
    """One snapshot per leaderboard: the highest version in the batch."""
    newest: dict[str, LeaderboardSnapshot] = {}
    for snapshot in snapshots:
        held = newest.get(snapshot.leaderboard)
        if held is None or snapshot.version > held.version:
            newest[snapshot.leaderboard] = snapshot
    return list(newest.values())


class SnapshotFeed(TopicReader):
    """The consumer thread; ``deliver`` receives each batch of updates (on this thread)."""

    def __init__(
        self,
        settings: GatewaySettings,
        deliver: Callable[[list[Update]], None],
        metrics: GatewayMetrics,
        health: Health,
        *,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
        replay: int = REPLAY_MESSAGES,
    ) -> None:
        self._replay = replay
        self._deliver = deliver
        self._metrics = metrics
        self._health = health
        super().__init__(
            settings,
            settings.topic_leaderboard,
            private_group_id(settings.service_name),
            {"auto.offset.reset": "latest"},
            name="gateway",
            consumer_name="Kafka consumer",
            failure="the Kafka consumer thread failed",
            log=log,
            consumer_factory=consumer_factory,
        )

    # -- the reader's parts --------------------------------------------------------------

    def _start_offset(self, low: int, high: int) -> int:
        return max(low, high - self._replay)

    def _on_assigned(self, watermarks: dict[int, tuple[int, int]]) -> None:
        log.info(
            "consuming snapshots",
            topic=self.topic,
            start_offsets={tp.partition: tp.offset for tp in self._assigned},
        )

    def _ready(self) -> tuple[bool, str]:
        return True, f"reading {len(self._assigned)} partition(s) of {self.topic!r}"

    def _tick(self) -> None:
        self._health.heartbeat()

    def _handle(self, messages: list[KafkaMessage]) -> None:
        snapshots = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != LibrdkafkaError._PARTITION_EOF:
                    self._metrics.kafka_errors.labels(error=error.name()).inc()
                    self._warn_consume_error(message, error)
                continue
            snapshot = decode_snapshot(message, self._metrics)
            if snapshot is not None:
                snapshots.append(snapshot)
        if snapshots:
            received_at = time.monotonic()
            self._deliver(
                [Update.of(snapshot, received_at) for snapshot in newest_per_leaderboard(snapshots)]
            )

    def _on_error(self, error: LibrdkafkaError) -> None:
        # Runs on the consumer thread, from poll().
        self._metrics.kafka_errors.labels(error=error.name()).inc()
        super()._on_error(error)
