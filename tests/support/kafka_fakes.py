"""Small in-memory stand-ins for confluent-kafka objects, for unit tests of pure logic.

They satisfy the Protocols of ``leaderboard.core.clients``, with the same signatures,
and record what was stored and committed so tests can assert on it. Integration tests
use a real broker instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_NOT_AVAILABLE,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin._metadata import (
    BrokerMetadata,
    ClusterMetadata,
    PartitionMetadata,
    TopicMetadata,
)

from leaderboard.core.clients import Headers
from leaderboard.core.events import LeaderboardSnapshot


@dataclass
class FakeMessage:
    """A consumed record (or an error event when ``error_value`` is set)."""

    topic_name: str
    partition_id: int
    offset_value: int
    value_bytes: bytes | None = b"{}"
    key_bytes: bytes | None = None
    error_value: KafkaError | None = None
    timestamp_ms: int = 0  # with TIMESTAMP_NOT_AVAILABLE when 0

    def topic(self) -> str:
        return self.topic_name

    def partition(self) -> int:
        return self.partition_id

    def offset(self) -> int:
        return self.offset_value

    def value(self) -> bytes | None:
        return self.value_bytes

    def key(self) -> bytes | None:
        return self.key_bytes

    def error(self) -> KafkaError | None:
        return self.error_value

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME if self.timestamp_ms else TIMESTAMP_NOT_AVAILABLE), (
            self.timestamp_ms
        )


@dataclass
class FakeConsumer:
    """Serves scripted batches; assigns ``partitions`` on the first consume()."""

    batches: list[list[FakeMessage]]
    partitions: list[TopicPartition]
    on_empty: Callable[[], None] = lambda: None
    stored: list[TopicPartition] = field(default_factory=list)
    committed: list[TopicPartition] = field(default_factory=list)
    seeks: list[TopicPartition] = field(default_factory=list)
    closed: bool = False
    callbacks: dict[str, Any] = field(default_factory=dict)
    high_watermark: int = 0
    revoke_on_close: bool = False
    _assigned: bool = False
    _pending_store: list[TopicPartition] = field(default_factory=list)

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics
        self.callbacks = callbacks

    def poll(self, timeout: float) -> FakeMessage | None:
        """The first message of the next scripted batch (None when there is none)."""
        if not self._assigned:
            self._assigned = True
            self.callbacks["on_assign"](self, self.partitions)
        while self.batches and not self.batches[0]:
            self.batches.pop(0)
        if not self.batches:
            self.on_empty()
            return None
        return self.batches[0].pop(0)

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        """The rest of the current scripted batch, as already-fetched messages."""
        if not self.batches:
            return []
        taken, self.batches[0] = self.batches[0][:num_messages], self.batches[0][num_messages:]
        if not self.batches[0]:
            self.batches.pop(0)
        return taken

    def revoke(self, partitions: list[TopicPartition]) -> None:
        """Simulate a rebalance taking ``partitions`` away."""
        self.callbacks["on_revoke"](self, partitions)

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        positions = {(tp.topic, tp.partition): tp.offset for tp in self.stored}
        return [
            TopicPartition(tp.topic, tp.partition, positions.get((tp.topic, tp.partition), -1001))
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return 0, self.high_watermark

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> object:
        return object()

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.partitions = [*self.partitions, *partitions]

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append(partition)

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        self.stored.extend(offsets)
        self._pending_store.extend(offsets)

    def commit(self, asynchronous: bool = True) -> list[TopicPartition]:
        if not self._pending_store:
            raise KafkaException(KafkaError(KafkaError._NO_OFFSET))
        done, self._pending_store = self._pending_store, []
        self.committed.extend(done)
        return done

    def close(self) -> None:
        # As librdkafka does when asked: leaving the group revokes what is assigned.
        if self.revoke_on_close and self._assigned and not self.closed:
            self.callbacks["on_revoke"](self, self.partitions)
        self.closed = True


def cluster_metadata(topic: str, leaders: dict[int, int], brokers: int = 1) -> ClusterMetadata:
    """What ``list_topics`` answers for a cluster holding ``topic``, whose partitions have
    the given leaders (-1: none)."""
    metadata = ClusterMetadata()
    metadata.brokers = {number: BrokerMetadata() for number in range(1, brokers + 1)}
    topic_metadata = TopicMetadata()
    topic_metadata.topic = topic
    for number, leader in leaders.items():
        partition = PartitionMetadata()
        partition.id, partition.leader = number, leader
        topic_metadata.partitions[number] = partition
    metadata.topics = {topic: topic_metadata}
    return metadata


class FakeProducer:
    """Queues what is produced and delivers it on poll(), acknowledged or failed with
    ``failure``, or never while ``hold`` is set (flush() then reports it as remaining)."""

    def __init__(
        self, config: dict[str, Any] | None = None, topics: Sequence[str] = ("game-score",)
    ) -> None:
        self.config = config or {}
        self.topics = topics
        self.produced: list[FakeMessage] = []
        self.failure: KafkaError | None = None
        self.hold = False
        self.reachable = True
        self.flushed: float | None = None
        self.closed = False
        self._queue: list[tuple[FakeMessage, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        on_delivery: Callable[[KafkaError | None, FakeMessage], None] | None = None,
        *,
        headers: Headers | None = None,
    ) -> None:
        message = FakeMessage(topic, 0, len(self.produced), value or b"", key)
        with self._lock:
            self.produced.append(message)
            self._queue.append((message, on_delivery))
        self._wake.set()

    def poll(self, timeout: float) -> int:
        self._wake.wait(timeout)
        self._wake.clear()
        with self._lock:
            if self.hold:
                return 0
            due, self._queue = self._queue, []
        for message, callback in due:
            if callback is not None:
                callback(self.failure, message)
        return len(due)

    def flush(self, timeout: float) -> int:
        self.flushed = timeout
        with self._lock:
            return 0 if not self.hold else len(self._queue)

    def list_topics(self, timeout: float) -> ClusterMetadata:
        if not self.reachable:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Connection refused"))
        metadata = cluster_metadata(self.topics[0], {0: 1, 1: 1})
        for topic in self.topics[1:]:
            metadata.topics |= cluster_metadata(topic, {0: 1, 1: 1}).topics
        return metadata

    def close(self) -> None:
        self.closed = True

    def report(self, code: int, reason: str, *, fatal: bool = False) -> None:
        """What librdkafka's error callback would say."""
        self.config["error_cb"](KafkaError(code, reason, fatal=fatal))


class FakeAssignedConsumer:
    """A consumer with partitions assigned by hand (the gateway's, the definitions feed's):
    one partition with the given watermarks; tests push messages with ``publish``."""

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

    def push(self, value: bytes | None, key: bytes = b"key") -> None:
        self._queue.put(FakeMessage(self.topic, 0, self.high, value, key))
        self.high += 1

    def skip(self, count: int) -> None:
        """Offsets that hold no record (compacted away, transaction markers)."""
        self.high += count

    def end(self) -> None:
        """The end-of-partition event librdkafka sends with ``enable.partition.eof``."""
        eof = KafkaError(KafkaError._PARTITION_EOF)
        self._queue.put(FakeMessage(self.topic, 0, self.high, None, None, eof))

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
