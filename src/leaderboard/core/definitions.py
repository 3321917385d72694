"""Board definitions in memory: the fold of the compacted ``leaderboard-definitions`` topic.

``DefinitionFeed`` reads the whole topic on its own thread into a ``BoardRegistry``
(docs/architecture.md, "Board definitions"; the message format is in docs/events.md).
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as LibrdkafkaError
from pydantic import ValidationError

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.kafka import consumer_config
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health

log = get_logger(__name__)

#: The readiness check the feed keeps up to date.
CHECK = "definitions"
#: How long one poll waits for a message (also the stop request's latency).
POLL_SECONDS = 0.25
#: Most messages taken from librdkafka's queue per loop iteration.
BATCH_MESSAGES = 1000
#: How often the topic's metadata is read (the readiness check while running).
CHECK_SECONDS = 5.0
#: Bound on one metadata or watermark request.
REQUEST_TIMEOUT_SECONDS = 5.0
LIBRDKAFKA_LOGGER = "leaderboard.definitions.librdkafka"


def definition_key(board_id: str) -> bytes:
    """The Kafka key of a board's definitions (and of its tombstone)."""
    return board_id.encode()


class BoardRegistry:
    """The newest definition of every board, by revision; safe to use from any thread.

    A definition replaces the one held only with a higher revision, so redeliveries and
    out-of-order copies never roll a board back. A tombstone removes the board but keeps
    its revision as a floor, so a stale copy arriving after it cannot resurrect it; this
    relies on the admin side raising revisions across a delete and re-create.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[str, BoardDefinition] = {}
        self._deleted: dict[str, int] = {}

    def apply(
        self,
        key: bytes | None,
        value: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> bool:
        """Fold one message in; True when it changed what is held. An unusable message is
        logged with its coordinates and skipped."""
        where = {"topic": topic, "partition": partition, "offset": offset}
        try:
            board_id = key.decode() if key is not None else None
        except UnicodeDecodeError:
            board_id = None
        if not board_id:
            log.warning("skipping a board definition without a usable key", key=key, **where)
            return False
        if value is None:
            return self._delete(board_id)
        try:
            definition = BoardDefinition.from_json(value)
        except ValidationError as exc:
            log.warning(
                "skipping an invalid board definition",
                key=board_id,
                error=_describe(exc),
                **where,
            )
            return False
        if definition.id != board_id:
            log.warning(
                "skipping a board definition under another board's key",
                key=board_id,
                board=definition.id,
                **where,
            )
            return False
        return self._put(definition)

    def _put(self, definition: BoardDefinition) -> bool:
        with self._lock:
            held = self._boards.get(definition.id)
            floor = held.revision if held is not None else self._deleted.get(definition.id, 0)
            if definition.revision <= floor:
                return False
            self._boards[definition.id] = definition
            self._deleted.pop(definition.id, None)
            return True

    def _delete(self, board_id: str) -> bool:
        with self._lock:
            held = self._boards.pop(board_id, None)
            if held is None:
                return False
            self._deleted[board_id] = held.revision
            return True

    def get(self, board_id: str) -> BoardDefinition | None:
        with self._lock:
            return self._boards.get(board_id)

    def all(self) -> list[BoardDefinition]:
        """Every board held, sorted by id."""
        with self._lock:
            return [self._boards[board_id] for board_id in sorted(self._boards)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._boards)


def _describe(exc: ValidationError) -> str:
    """The first problems pydantic found, one line (``loc: msg``)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
        for error in exc.errors()[:3]
    )


def feed_group_id(service_name: str) -> str:
    """A group id no other process uses (librdkafka wants one; nothing is committed)."""
    return f"{service_name}-definitions-{socket.gethostname()}-{uuid.uuid4().hex[:12]}"


class DefinitionFeed:
    """A daemon thread that reads every partition of the definitions topic from the start
    into ``registry``, then keeps following it; reports to ``health`` (check ``CHECK`` and
    a liveness fault once the thread died)."""

    def __init__(
        self,
        settings: LeaderboardSettings,
        registry: BoardRegistry,
        health: Health,
        *,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        self.topic = settings.topic_leaderboard_definitions
        self.registry = registry
        self._health = health
        self._config = consumer_config(
            settings,
            feed_group_id(settings.service_name),
            **{
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # Says where the end is, even when compaction left no record right before it.
                "enable.partition.eof": True,
                "error_cb": self._on_error,
                "logger": logging.getLogger(LIBRDKAFKA_LOGGER),
            },
        )
        self._consumer_factory = consumer_factory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="definitions-kafka", daemon=True)
        self._assigned: list[TopicPartition] = []
        #: Per partition still being read up to its start-time end: the last offset to read.
        self._behind: dict[int, int] = {}
        self._caught_up = threading.Event()
        self._settled = threading.Event()  # caught up, or the thread ended
        self._brokers_down = False
        self._failed: str | None = None
        self._report(False, "not started")
        health.watch(self.fault)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def wait_caught_up(self, timeout: float) -> bool:
        """True once every message that existed at start has been folded in."""
        self._settled.wait(timeout)
        return self._caught_up.is_set()

    def stop(self, timeout: float) -> bool:
        """Stop polling and close the consumer; True when the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def fault(self) -> str | None:
        """What killed the thread, or None (a ``Health.watch`` fault)."""
        if self._failed is None:
            return None
        return f"the board definitions consumer failed: {self._failed}"

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            consumer = self._consumer_factory(self._config)
        except Exception as exc:  # KafkaException for a bad configuration
            self._fail(str(exc))
            self._settled.set()
            log.error("cannot create the definitions consumer", topic=self.topic, error=str(exc))
            return
        checker = threading.Thread(
            target=self._check_loop, args=(consumer,), name="definitions-check", daemon=True
        )
        try:
            self._loop(consumer, checker)
        except Exception as exc:  # a bug: fail liveness instead of running on stale boards
            self._fail(repr(exc))
            log.exception("the definitions consumer thread stopped", topic=self.topic)
        finally:
            self._stop.set()
            self._settled.set()
            if checker.is_alive():
                checker.join(REQUEST_TIMEOUT_SECONDS + 1)
            consumer.close()

    def _loop(self, consumer: AssignedConsumer, checker: threading.Thread) -> None:
        while not self._stop.is_set():
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
            behind = {}
            for partition in sorted(topic.partitions):
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition),
                    timeout=REQUEST_TIMEOUT_SECONDS,
                    cached=False,
                )
                if high > low:
                    behind[partition] = high - 1
        except KafkaException as exc:
            self._report(False, f"cannot read topic {self.topic!r}: {exc.args[0].str()}")
            return False
        assigned = [
            TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in sorted(topic.partitions)
        ]
        consumer.assign(assigned)
        self._assigned = assigned
        self._behind = behind
        log.info("reading board definitions", topic=self.topic, up_to=behind)
        if not behind:
            self._mark_caught_up()
        else:
            self._report(False, f"reading {self.topic!r} up to its end at start")
        return True

    def _handle(self, messages: list[KafkaMessage]) -> None:
        changed = []
        for message in messages:
            partition, offset = message.partition(), message.offset()
            error = message.error()
            if error is not None:
                if error.code() == LibrdkafkaError._PARTITION_EOF:
                    self._reached(partition, None)
                else:
                    log.warning(
                        "Kafka consume error",
                        topic=message.topic(),
                        partition=partition,
                        offset=offset,
                        error=error.str(),
                    )
                continue
            if self.registry.apply(
                message.key(),
                message.value(),
                topic=message.topic(),
                partition=partition,
                offset=offset,
            ):
                changed.append((message.key() or b"").decode(errors="replace"))
            self._reached(partition, offset)
        if changed and self._caught_up.is_set():
            log.info("board definitions changed", topic=self.topic, keys=changed)

    def _reached(self, partition: int | None, offset: int | None) -> None:
        """Note progress on ``partition`` (``offset`` None: its end)."""
        if not self._behind or partition not in self._behind:
            return
        if offset is None or offset >= self._behind[partition]:
            del self._behind[partition]
            if not self._behind:
                self._mark_caught_up()

    def _mark_caught_up(self) -> None:
        self._caught_up.set()
        self._settled.set()
        self._report(True, self._reading())
        log.info("board definitions caught up", topic=self.topic, boards=len(self.registry))

    def _reading(self) -> str:
        return f"{len(self.registry)} board definition(s) from {self.topic!r}"

    def _check(self, consumer: AssignedConsumer) -> None:
        # A metadata request honours its timeout (see gateway/feed.py on watermark queries).
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
        if self._caught_up.is_set():
            self._report(True, self._reading())
        else:
            self._report(False, f"reading {self.topic!r} up to its end at start")

    def _on_error(self, error: LibrdkafkaError) -> None:
        # Runs on the consumer thread, from poll().
        if error.code() == LibrdkafkaError._ALL_BROKERS_DOWN:
            if not self._brokers_down:
                log.warning("all Kafka brokers are down", topic=self.topic, error=error.str())
            self._brokers_down = True
            self._report(False, f"all Kafka brokers are down: {error.str()}")
        elif error.code() == LibrdkafkaError._TRANSPORT:
            log.debug("Kafka connection failed", error=error.str())
        else:
            log.warning("Kafka consumer error", topic=self.topic, error=error.str())

    def _report(self, ok: bool, detail: str) -> None:
        self._health.set_check(CHECK, ok, detail)

    def _fail(self, reason: str) -> None:
        self._failed = reason
        self._report(False, f"the board definitions consumer failed: {reason}")
