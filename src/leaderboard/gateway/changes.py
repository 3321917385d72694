"""The gateway's second Kafka consumer thread: the ranker's change notices.

Read from the end, never committed; tells which boards changed, so watched players are
re-read even when the top N (and so the snapshot) stays the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka import KafkaError as LibrdkafkaError
from pydantic import ValidationError

from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.events import ChangeNotice
from leaderboard.core.logging import get_logger
from leaderboard.core.topic_reader import TopicReader, private_group_id
from leaderboard.gateway.metrics import GatewayMetrics
from leaderboard.gateway.settings import GatewaySettings

log = get_logger(__name__)


def changed_boards(messages: list[KafkaMessage]) -> tuple[set[str], list[KafkaMessage]]:
    """The boards named by the notices among ``messages``, and the records that are not
    valid notices."""
    boards: set[str] = set()
    invalid: list[KafkaMessage] = []
    for message in messages:
        try:
            notice = ChangeNotice.model_validate_json(message.value() or b"")
        except ValidationError:
            invalid.append(message)
            continue
        boards.update(change.leaderboard for change in notice.changes)
    return boards, invalid


class ChangeFeed(TopicReader):
    """The consumer thread; ``deliver`` receives the boards changed in each batch (on
    this thread)."""

    def __init__(
        self,
        settings: GatewaySettings,
        deliver: Callable[[set[str]], None],
        metrics: GatewayMetrics,
        *,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        self._deliver = deliver
        self._metrics = metrics
        super().__init__(
            settings,
            settings.topic_leaderboard_change,
            private_group_id(settings.service_name, "changes"),
            {"auto.offset.reset": "latest"},
            name="gateway-changes",
            consumer_name="change notice consumer",
            failure="the change notice consumer thread failed",
            log=log,
            consumer_factory=consumer_factory,
        )

    # -- the reader's parts --------------------------------------------------------------

    def _start_offset(self, low: int, high: int) -> int:
        # Only what changes from now on: a new watcher's first read covers the past.
        return high

    def _on_assigned(self, watermarks: dict[int, tuple[int, int]]) -> None:
        log.info(
            "following change notices",
            topic=self.topic,
            start_offsets={tp.partition: tp.offset for tp in self._assigned},
        )

    def _ready(self) -> tuple[bool, str]:
        return True, f"reading {len(self._assigned)} partition(s) of {self.topic!r}"

    def _handle(self, messages: list[KafkaMessage]) -> None:
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.code() != LibrdkafkaError._PARTITION_EOF:
                self._metrics.kafka_errors.labels(error=error.name()).inc()
                self._warn_consume_error(message, error)
        boards, invalid = changed_boards(records)
        for message in invalid:
            log.warning(
                "skipping an invalid change notice",
                topic=message.topic(),
                partition=message.partition(),
                offset=message.offset(),
            )
        if boards:
            self._deliver(boards)

    def _on_error(self, error: LibrdkafkaError) -> None:
        # Runs on the consumer thread, from poll().
        self._metrics.kafka_errors.labels(error=error.name()).inc()
        super()._on_error(error)
