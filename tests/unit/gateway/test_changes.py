"""The change notice thread: read from the end of the topic, boards of each batch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from leaderboard.core.events import ChangeNotice, LeaderboardChange
from leaderboard.gateway.changes import ChangeFeed, changed_boards
from leaderboard.gateway.metrics import GatewayMetrics
from leaderboard.gateway.settings import GatewaySettings
from tests.support.kafka_fakes import FakeAssignedConsumer, FakeMessage
from tests.support.services import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def notice(*boards: str) -> bytes:
    return ChangeNotice(
        changes=[LeaderboardChange(leaderboard=b, newest_event_at=T0) for b in boards],
        sent_at=T0,
    ).to_json()


def test_a_batch_names_each_board_once_and_sets_invalid_records_apart() -> None:
    records = [
        FakeMessage("changes", 0, 7, notice("a", "b")),
        FakeMessage("changes", 0, 8, b"not json"),
        FakeMessage("changes", 0, 9, notice("b", "c")),
    ]
    boards, invalid = changed_boards(records)  # type: ignore[arg-type]
    assert boards == {"a", "b", "c"}
    assert [message.offset() for message in invalid] == [8]


def test_the_feed_starts_at_the_end_and_delivers_the_boards_of_each_batch() -> None:
    consumers: list[FakeAssignedConsumer] = []
    delivered: list[set[str]] = []
    lock = threading.Lock()

    def factory(config: dict[str, Any]) -> FakeAssignedConsumer:
        consumers.append(FakeAssignedConsumer(config, "changes", high=42))
        return consumers[-1]

    def deliver(boards: set[str]) -> None:
        with lock:
            delivered.append(boards)

    metrics = GatewayMetrics(CollectorRegistry())
    feed = ChangeFeed(
        GatewaySettings(topic_leaderboard_change="changes"),
        deliver,
        metrics,
        consumer_factory=factory,
    )
    feed.start()
    try:
        wait_for(lambda: consumers and consumers[0].assigned, 5, "the assignment")
        consumer = consumers[0]
        [start] = consumer.assigned or []
        assert (start.topic, start.offset) == ("changes", 42)  # nothing of the past
        assert consumer.config["group.id"].startswith("gateway-changes-")
        assert consumer.config["enable.auto.commit"] is False
        consumer.push(notice("a"))
        consumer.push(b"{}")
        wait_for(lambda: delivered, 5, "a delivery")
        assert delivered == [{"a"}]
        assert feed.status()[0]
        assert feed.alive
    finally:
        feed.stop(5)
