"""The one Kafka consumer thread of a gateway process: snapshots from ``leaderboard``.

Assigned by hand, never committed (see docs/api.md, "Inside a gateway process").
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as LibrdkafkaError
from confluent_kafka.admin._metadata import ClusterMetadata  # not re-exported by admin
from pydantic import ValidationError

from leaderboard.core.clients import KafkaMessage
from leaderboard.core.events import LeaderboardSnapshot
from leaderboard.core.kafka import consumer_config
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health
from leaderboard.gateway.messages import Update
from leaderboard.gateway.metrics import GatewayMetrics
from leaderboard.gateway.settings import GatewaySettings

log = get_logger(__name__)

#: How long one poll waits for the first message (also the stop request's latency).
POLL_SECONDS = 0.25
#: Most messages taken from librdkafka's queue per loop iteration.
BATCH_MESSAGES = 1000
#: How often the topic's metadata is read (the Kafka readiness check).
CHECK_SECONDS = 5.0
#: Bound on one metadata or watermark request.
REQUEST_TIMEOUT_SECONDS = 5.0
LIBRDKAFKA_LOGGER = "leaderboard.gateway.librdkafka"
#: Snapshots re-read per partition at start, before the end: covers snapshots published
#: while the gateway started (on Kafka but not yet in the Redis cache). Versions make the
#: replay harmless.
REPLAY_MESSAGES = 1000


class SnapshotConsumer(Protocol):
    """A consumer with partitions assigned by hand, as the feed uses it."""

    def list_topics(self, topic: str, timeout: float) -> ClusterMetadata: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def poll(self, timeout: float) -> KafkaMessage | None: ...
    def consume(self, num_messages: int, timeout: float) -> Sequence[KafkaMessage]: ...
    def close(self) -> None: ...


def gateway_group_id(service_name: str) -> str:
    """A group id no other process uses (offsets are never committed under it)."""
    return f"{service_name}-{socket.gethostname()}-{uuid.uuid4().hex[:12]}"


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


class SnapshotFeed:
    """The consumer thread; ``deliver`` receives each batch of updates (on this thread)."""

    def __init__(
        self,
        settings: GatewaySettings,
        deliver: Callable[[list[Update]], None],
        metrics: GatewayMetrics,
        health: Health,
        *,
        consumer_factory: Callable[[dict[str, Any]], SnapshotConsumer] = Consumer,
        replay: int = REPLAY_MESSAGES,
    ) -> None:
        self.topic = settings.topic_leaderboard
        self._replay = replay
        self._deliver = deliver
        self._metrics = metrics
        self._health = health
        self._config = consumer_config(
            settings,
            gateway_group_id(settings.service_name),
            **{
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "error_cb": self._on_error,
                "logger": logging.getLogger(LIBRDKAFKA_LOGGER),
            },
        )
        self._consumer_factory = consumer_factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-kafka", daemon=True)
        self._assigned: list[TopicPartition] = []
        self._status: tuple[bool, str] = (False, "not started")
        self._brokers_down = False
        self._failed: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop polling and close the consumer (it leaves no group: it never joined one)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """False once the thread ended on an unexpected error (liveness)."""
        return self._failed is None

    def status(self) -> tuple[bool, str]:
        """Readiness: the partitions are assigned and just had a leader in Kafka's metadata."""
        if self._failed is not None:
            return False, f"the Kafka consumer thread failed: {self._failed}"
        return self._status

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            consumer = self._consumer_factory(self._config)
        except KafkaException as exc:
            self._failed = str(exc)
            log.error("cannot create the Kafka consumer", topic=self.topic, error=str(exc))
            return
        checker = threading.Thread(
            target=self._check_loop, args=(consumer,), name="gateway-kafka-check", daemon=True
        )
        try:
            self._loop(consumer, checker)
        except Exception as exc:  # a bug: fail liveness instead of silently serving stale data
            self._failed = repr(exc)
            log.exception("the Kafka consumer thread stopped", topic=self.topic)
        finally:
            self._stop.set()
            if checker.is_alive():
                checker.join(REQUEST_TIMEOUT_SECONDS + 1)
            consumer.close()

    def _loop(self, consumer: SnapshotConsumer, checker: threading.Thread) -> None:
        while not self._stop.is_set():
            self._health.heartbeat()
            if not self._assigned:
                if not self._assign(consumer):
                    self._stop.wait(1.0)
                    continue
                checker.start()
            first = consumer.poll(POLL_SECONDS)
            if first is not None:
                # Whatever else is already fetched, without waiting for more.
                messages = [first, *consumer.consume(BATCH_MESSAGES - 1, 0)]
                self._handle(messages)

    def _check_loop(self, consumer: SnapshotConsumer) -> None:
        # librdkafka's API is thread-safe; only polling must stay on one thread.
        while not self._stop.wait(CHECK_SECONDS):
            self._check(consumer)

    def _assign(self, consumer: SnapshotConsumer) -> bool:
        try:
            metadata = consumer.list_topics(self.topic, timeout=REQUEST_TIMEOUT_SECONDS)
            topic = metadata.topics.get(self.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                reason = topic.error.str() if topic is not None and topic.error else "no partitions"
                self._status = (False, f"topic {self.topic!r} is not available: {reason}")
                return False
            start = []
            for partition in sorted(topic.partitions):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition),
                    timeout=REQUEST_TIMEOUT_SECONDS,
                    cached=False,
                )
                start.append(TopicPartition(self.topic, partition, max(low, high - self._replay)))
        except KafkaException as exc:
            self._status = (False, f"cannot read topic {self.topic!r}: {exc.args[0].str()}")
            return False
        consumer.assign(start)
        self._assigned = start
        self._status = (True, f"reading {len(start)} partition(s) of {self.topic!r}")
        log.info(
            "consuming snapshots",
            topic=self.topic,
            start_offsets={tp.partition: tp.offset for tp in start},
        )
        return True

    def _handle(self, messages: list[KafkaMessage]) -> None:
        snapshots = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != LibrdkafkaError._PARTITION_EOF:
                    self._metrics.kafka_errors.labels(error=error.name()).inc()
                    log.warning(
                        "Kafka consume error",
                        topic=message.topic(),
                        partition=message.partition(),
                        offset=message.offset(),
                        error=error.str(),
                    )
                continue
            snapshot = decode_snapshot(message, self._metrics)
            if snapshot is not None:
                snapshots.append(snapshot)
        if snapshots:
            received_at = time.monotonic()
            self._deliver(
                [Update.of(snapshot, received_at) for snapshot in newest_per_leaderboard(snapshots)]
            )

    def _check(self, consumer: SnapshotConsumer) -> None:
        # A metadata request, which honours its timeout. A watermark query was seen blocked
        # for minutes past its timeout after Kafka's name did not resolve at start, and
        # readiness never recovered.
        try:
            metadata = consumer.list_topics(self.topic, timeout=REQUEST_TIMEOUT_SECONDS)
        except KafkaException as exc:
            self._status = (False, f"cannot reach Kafka: {exc.args[0].str()}")
            return
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            reason = topic.error.str() if topic is not None and topic.error else "not found"
            self._status = (False, f"topic {self.topic!r} is not available: {reason}")
            return
        partitions = topic.partitions
        leaderless = [
            tp.partition
            for tp in self._assigned
            if tp.partition not in partitions or partitions[tp.partition].leader < 0
        ]
        if leaderless:
            self._status = (False, f"cannot reach Kafka: no leader for partitions {leaderless}")
            return
        self._brokers_down = False
        self._status = (True, f"reading {len(self._assigned)} partition(s) of {self.topic!r}")

    def _on_error(self, error: LibrdkafkaError) -> None:
        # Runs on the consumer thread, from poll().
        self._metrics.kafka_errors.labels(error=error.name()).inc()
        if error.code() == LibrdkafkaError._ALL_BROKERS_DOWN:
            if not self._brokers_down:
                log.warning("all Kafka brokers are down", topic=self.topic, error=error.str())
            self._brokers_down = True
            self._status = (False, f"all Kafka brokers are down: {error.str()}")
        elif error.code() == LibrdkafkaError._TRANSPORT:
            log.debug("Kafka connection failed", error=error.str())
        else:
            log.warning("Kafka consumer error", topic=self.topic, error=error.str())
