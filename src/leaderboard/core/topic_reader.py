"""``TopicReader``: a daemon thread reading one topic with partitions assigned by hand.

Never committed; a second thread checks the partitions' leaders for readiness. The gateway's
snapshot feed and the definitions feed subclass it (docs/architecture.md).
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as LibrdkafkaError

from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.kafka import consumer_config

#: How long one poll waits for the first message (also the stop request's latency).
POLL_SECONDS = 0.25
#: Most messages taken from librdkafka's queue per loop iteration.
BATCH_MESSAGES = 1000
#: How often the topic's metadata is read (the readiness check while running).
CHECK_SECONDS = 5.0
#: Bound on one metadata or watermark request.
REQUEST_TIMEOUT_SECONDS = 5.0


def private_group_id(*names: str) -> str:
    """A group id no other process uses (librdkafka wants one; nothing is committed)."""
    return "-".join([*names, socket.gethostname(), uuid.uuid4().hex[:12]])


class TopicReader(ABC):
    """Assigns every partition of ``topic`` where ``_start_offset`` says, then hands each
    batch to ``_handle`` on its own thread. ``status()`` is readiness; ``fault()`` says
    what killed the thread (liveness)."""

    def __init__(
        self,
        settings: LeaderboardSettings,
        topic: str,
        group_id: str,
        options: dict[str, Any],
        *,
        name: str,
        consumer_name: str,
        failure: str,
        log: structlog.stdlib.BoundLogger,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        """``name`` names the threads and librdkafka's logger; ``consumer_name`` and
        ``failure`` word the log lines and the fault; ``log`` writes them."""
        self.topic = topic
        self._log = log
        self._consumer_name = consumer_name
        self._failure = failure
        self._config = consumer_config(
            settings,
            group_id,
            **{
                "enable.auto.commit": False,
                "error_cb": self._on_error,
                "logger": logging.getLogger(f"leaderboard.{name}.librdkafka"),
                **options,
            },
        )
        self._consumer_factory = consumer_factory
        self._name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-kafka", daemon=True)
        self._assigned: list[TopicPartition] = []
        self._status: tuple[bool, str] = (False, "not started")
        self._brokers_down = False
        self._failed: str | None = None

    # -- what a reader says ----------------------------------------------------------------

    @abstractmethod
    def _start_offset(self, low: int, high: int) -> int:
        """Where a partition with these watermarks is read from."""

    @abstractmethod
    def _handle(self, messages: list[KafkaMessage]) -> None:
        """One batch, records and error events (on the reader's thread)."""

    @abstractmethod
    def _ready(self) -> tuple[bool, str]:
        """Readiness while the partitions are assigned and have leaders."""

    @abstractmethod
    def _on_assigned(self, watermarks: dict[int, tuple[int, int]]) -> None:
        """Called once the partitions are assigned, with their watermarks."""

    # Optional hooks: doing nothing is right for a reader that does not override them.
    def _tick(self) -> None:  # noqa: B027
        """Called on every loop iteration (at least every ``POLL_SECONDS``)."""

    def _ended(self) -> None:  # noqa: B027
        """Called once the thread is about to end."""

    def _report(self, ok: bool, detail: str) -> None:
        self._status = (ok, detail)

    def _warn_consume_error(self, message: KafkaMessage, error: LibrdkafkaError) -> None:
        self._log.warning(
            "Kafka consume error",
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            error=error.str(),
        )

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop polling and close the consumer (it leaves no group: it never joined one);
        True when the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """False once the thread ended on an unexpected error (liveness)."""
        return self._failed is None

    def fault(self) -> str | None:
        """What killed the thread, or None (a ``Health.watch`` fault)."""
        return None if self._failed is None else f"{self._failure}: {self._failed}"

    def status(self) -> tuple[bool, str]:
        """Readiness: the partitions are assigned and just had a leader in Kafka's metadata."""
        fault = self.fault()
        return (False, fault) if fault is not None else self._status

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            consumer = self._consumer_factory(self._config)
        except Exception as exc:  # KafkaException for a bad configuration
            self._fail(str(exc))
            self._ended()
            self._log.error(
                f"cannot create the {self._consumer_name}", topic=self.topic, error=str(exc)
            )
            return
        checker = threading.Thread(
            target=self._check_loop, args=(consumer,), name=f"{self._name}-check", daemon=True
        )
        try:
            self._loop(consumer, checker)
        except Exception as exc:  # a bug: fail liveness instead of running on stale data
            self._fail(repr(exc))
            self._log.exception(f"the {self._consumer_name} thread stopped", topic=self.topic)
        finally:
            self._stop.set()
            self._ended()
            if checker.is_alive():
                checker.join(REQUEST_TIMEOUT_SECONDS + 1)
            consumer.close()

    def _loop(self, consumer: AssignedConsumer, checker: threading.Thread) -> None:
        while not self._stop.is_set():
            self._tick()
            if not self._assigned:
                if not self._assign(consumer):
                    self._stop.wait(1.0)
                    continue
                checker.start()
            first = consumer.poll(POLL_SECONDS)
            if first is not None:
                # Whatever else is already fetched, without waiting for more.
                self._handle([first, *consumer.consume(BATCH_MESSAGES - 1, 0)])

    def _check_loop(self, consumer: AssignedConsumer) -> None:
        # librdkafka's API is thread-safe; only polling must stay on one thread.
        while not self._stop.wait(CHECK_SECONDS):
            self._check(consumer)

    def _assign(self, consumer: AssignedConsumer) -> bool:
        try:
            metadata = consumer.list_topics(self.topic, timeout=REQUEST_TIMEOUT_SECONDS)
            topic = metadata.topics.get(self.topic)
            if topic is None or topic.error is not None or not topic.partitions:
                reason = topic.error.str() if topic is not None and topic.error else "no partitions"
                self._report(False, f"topic {self.topic!r} is not available: {reason}")
                return False
            watermarks = {
                partition: consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition),
                    timeout=REQUEST_TIMEOUT_SECONDS,
                    cached=False,
                )
                for partition in sorted(topic.partitions)
            }
        except KafkaException as exc:
            self._report(False, f"cannot read topic {self.topic!r}: {exc.args[0].str()}")
            return False
        assigned = [
            TopicPartition(self.topic, partition, self._start_offset(low, high))
            for partition, (low, high) in watermarks.items()
        ]
        consumer.assign(assigned)
        self._assigned = assigned
        self._report(*self._ready())
        self._on_assigned(watermarks)
        return True

    def _check(self, consumer: AssignedConsumer) -> None:
        # A metadata request, which honours its timeout. A watermark query was seen blocked
        # for minutes past its timeout after Kafka's name did not resolve at start, and
        # readiness never recovered.
        try:
            metadata = consumer.list_topics(self.topic, timeout=REQUEST_TIMEOUT_SECONDS)
        except KafkaException as exc:
            self._report(False, f"cannot reach Kafka: {exc.args[0].str()}")
            return
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            reason = topic.error.str() if topic is not None and topic.error else "not found"
            self._report(False, f"topic {self.topic!r} is not available: {reason}")
            return
        partitions = topic.partitions
        leaderless = [
            tp.partition
            for tp in self._assigned
            if tp.partition not in partitions or partitions[tp.partition].leader < 0
        ]
        if leaderless:
            self._report(False, f"cannot reach Kafka: no leader for partitions {leaderless}")
            return
        self._brokers_down = False
        self._report(*self._ready())

    def _on_error(self, error: LibrdkafkaError) -> None:
        # Runs on the consumer thread, from poll().
        if error.code() == LibrdkafkaError._ALL_BROKERS_DOWN:
            if not self._brokers_down:
                self._log.warning("all Kafka brokers are down", topic=self.topic, error=error.str())
            self._brokers_down = True
            self._report(False, f"all Kafka brokers are down: {error.str()}")
        elif error.code() == LibrdkafkaError._TRANSPORT:
            self._log.debug("Kafka connection failed", error=error.str())
        else:
            self._log.warning("Kafka consumer error", topic=self.topic, error=error.str())

    def _fail(self, reason: str) -> None:
        self._failed = reason
        self._report(False, f"{self._failure}: {reason}")
