"""The Kafka consumer thread: manual assignment near the end, parsed batches, bad records."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, TopicPartition
from prometheus_client import CollectorRegistry

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.logging import configure_logging
from leaderboard.core.probes import Health
from leaderboard.gateway.feed import SnapshotFeed, newest_per_leaderboard
from leaderboard.gateway.messages import Update
from leaderboard.gateway.metrics import GatewayMetrics
from leaderboard.gateway.settings import GatewaySettings
from tests.support.kafka_fakes import FakeAssignedConsumer
from tests.support.services import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(board: str, version: int) -> LeaderboardSnapshot:
    return LeaderboardSnapshot(
        leaderboard=board,
        version=version,
        entries=[SnapshotEntry(rank=1, player_id="p1", score=version)],
        generated_at=T0,
        newest_event_at=T0,
    )


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("gateway", fmt="json", stream=stream)
    return stream


class Harness:
    def __init__(self, high: int, replay: int) -> None:
        self.settings = GatewaySettings(topic_leaderboard="snapshots")
        self.metrics = GatewayMetrics(CollectorRegistry())
        self.delivered: list[list[Update]] = []
        self.lock = threading.Lock()
        self.consumer: FakeAssignedConsumer | None = None
        self.high = high
        self.feed = SnapshotFeed(
            self.settings,
            self.deliver,
            self.metrics,
            Health(),
            consumer_factory=self.factory,
            replay=replay,
        )

    def factory(self, config: dict[str, Any]) -> FakeAssignedConsumer:
        self.consumer = FakeAssignedConsumer(config, "snapshots", self.high)
        return self.consumer

    def deliver(self, updates: list[Update]) -> None:
        with self.lock:
            self.delivered.append(updates)

    def versions(self) -> list[list[tuple[str, int]]]:
        with self.lock:
            return [
                [(u.leaderboard, u.snapshot.version) for u in batch] for batch in self.delivered
            ]


@pytest.fixture
def harness() -> Iterator[Harness]:
    harness = Harness(high=1500, replay=100)
    harness.feed.start()
    yield harness
    harness.feed.stop(5)


def test_the_consumer_joins_no_group_and_starts_near_the_end(harness: Harness) -> None:
    wait_for(lambda: harness.consumer and harness.consumer.assigned, 5, "the assignment")
    assert harness.consumer is not None
    [start] = harness.consumer.assigned or []
    assert (start.topic, start.partition, start.offset) == ("snapshots", 0, 1400)
    config = harness.consumer.config
    assert config["enable.auto.commit"] is False
    assert config["group.id"].startswith("gateway-")
    assert harness.feed.status()[0]


def test_snapshots_arrive_parsed_and_serialised(harness: Harness) -> None:
    wait_for(lambda: harness.consumer and harness.consumer.assigned, 5, "the assignment")
    assert harness.consumer is not None
    harness.consumer.publish(snapshot("a", 1))
    wait_for(harness.versions, 5, "a delivery")
    [[update]] = harness.delivered
    assert orjson.loads(update.message)["version"] == 1


def test_an_invalid_record_is_skipped_and_logged_with_its_coordinates(
    harness: Harness, log_stream: io.StringIO
) -> None:
    wait_for(lambda: harness.consumer and harness.consumer.assigned, 5, "the assignment")
    assert harness.consumer is not None
    harness.consumer.push(b'{"not": "a snapshot"}')
    harness.consumer.publish(snapshot("a", 2))
    wait_for(lambda: any(("a", 2) in batch for batch in harness.versions()), 5, "the valid one")
    lines = [orjson.loads(line) for line in log_stream.getvalue().splitlines()]
    [warning] = [line for line in lines if line["event"] == "skipping an invalid snapshot"]
    assert (warning["topic"], warning["partition"], warning["offset"]) == ("snapshots", 0, 1500)
    invalid = harness.metrics.snapshots_received.labels(outcome="invalid")
    assert invalid._value.get() == 1


def test_stop_closes_the_consumer(harness: Harness) -> None:
    wait_for(lambda: harness.consumer, 5, "the consumer")
    harness.feed.stop(5)
    assert harness.consumer is not None
    assert harness.consumer.closed


def test_a_batch_keeps_the_newest_snapshot_of_each_leaderboard() -> None:
    batch = [snapshot("a", 1), snapshot("b", 5), snapshot("a", 3), snapshot("a", 2)]
    newest = {s.leaderboard: s.version for s in newest_per_leaderboard(batch)}
    assert newest == {"a": 3, "b": 5}


class MetadataOnlyConsumer(FakeAssignedConsumer):
    """Watermark queries block forever here, as librdkafka's can after an outage."""

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        raise AssertionError("the readiness check must not query watermarks")


def checked_feed() -> tuple[SnapshotFeed, MetadataOnlyConsumer]:
    harness = Harness(high=0, replay=0)
    consumer = MetadataOnlyConsumer({}, "snapshots")
    harness.feed._assigned = [TopicPartition("snapshots", 0, 0)]
    return harness.feed, consumer


def test_readiness_recovers_from_brokers_down_through_metadata() -> None:
    feed, consumer = checked_feed()
    feed._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    assert feed.status() == (False, "all Kafka brokers are down: 1/1 brokers are down")
    feed._check(consumer)
    assert feed.status() == (True, "reading 1 partition(s) of 'snapshots'")


def test_readiness_fails_while_a_partition_has_no_leader() -> None:
    feed, consumer = checked_feed()
    consumer.leader = -1
    feed._check(consumer)
    assert feed.status() == (False, "cannot reach Kafka: no leader for partitions [0]")


def test_readiness_fails_while_the_topic_is_missing() -> None:
    feed, consumer = checked_feed()
    consumer.topic = "elsewhere"
    feed._check(consumer)
    assert feed.status() == (False, "topic 'snapshots' is not available: not found")
