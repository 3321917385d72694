"""A stand-in for the gateway's Kafka consumer (manual assignment, poll/consume)."""

from __future__ import annotations

import queue
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin._metadata import ClusterMetadata

from leaderboard.core.events import LeaderboardSnapshot
from tests.support.kafka_fakes import FakeMessage, cluster_metadata


class FakeSnapshotConsumer:
    """One partition with the given watermarks; tests push messages with ``publish``."""

    def __init__(self, config: dict[str, Any], topic: str, high: int = 0) -> None:
        self.config = config
        self.topic = topic
        self.high = high
        #: The partition's leader in the metadata (-1: none, as while Kafka is down).
        self.leader = 1
        self.assigned: list[TopicPartition] | None = None
        self.closed = False
        self._queue: queue.Queue[FakeMessage] = queue.Queue()

    def publish(self, snapshot: LeaderboardSnapshot) -> None:
        self.push(snapshot.to_json())

    def push(self, value: bytes) -> None:
        self._queue.put(FakeMessage(self.topic, 0, self.high, value, b"key"))
        self.high += 1

    def list_topics(self, topic: str, timeout: float) -> ClusterMetadata:
        # Only the topic this fake holds exists.
        return cluster_metadata(self.topic, {0: self.leader})

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        return 0, self.high

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def poll(self, timeout: float) -> FakeMessage | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        messages = []
        while len(messages) < num_messages:
            try:
                messages.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return messages

    def close(self) -> None:
        self.closed = True
