"""The publisher's loop: coalesce notices, publish each leaderboard at most once per interval.

Each snapshot is acknowledged by Kafka, then cached, then its notices' offsets stored;
a snapshot is read and described by its board's definition, of its live period; a board
whose live period changed is published without a notice (rollover).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import NamedTuple, TypeVar

from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import ValidationError
from redis import Redis

from leaderboard.core.boards import BoardView
from leaderboard.core.clients import ConsumedRecord, KafkaConsumer, KafkaProducer
from leaderboard.core.consumer import BatchConsumer
from leaderboard.core.definitions import BoardRegistry, follow_definitions
from leaderboard.core.errors import KafkaError
from leaderboard.core.events import (
    ChangeNotice,
    LeaderboardSnapshot,
    Operator,
    ScoreFormat,
    SnapshotEntry,
    Sort,
    utc_now,
)
from leaderboard.core.kafka import consumer_config, producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.live_periods import LivePeriods
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.retry import DependencyRetrier, redis_retrier
from leaderboard.core.runtime import ServiceContext
from leaderboard.publisher.metrics import PublisherMetrics
from leaderboard.publisher.settings import PublisherSettings
from leaderboard.publisher.snapshots import TopReader

log = get_logger(__name__)

T = TypeVar("T")

FLUSH_TIMEOUT_SECONDS = 30.0
#: Most change notices read in one batch.
BATCH_SIZE = 1000
#: Least time between two checks for boards whose live period changed.
ROLLOVER_CHECK_SECONDS = 1.0


class Shown(NamedTuple):
    """What a client sees of a snapshot."""

    entries: list[SnapshotEntry]
    title: str | None
    sort: Sort
    format: ScoreFormat
    operator: Operator
    period: str
    period_ends_at: datetime | None


class Publisher:
    """The publisher's batch handler and its memory of what it published."""

    def __init__(
        self,
        settings: PublisherSettings,
        reader: TopReader,
        producer: KafkaProducer,
        metrics: PublisherMetrics,
        shutdown: Shutdown,
        retrier: DependencyRetrier,
        registry: BoardRegistry,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``clock``: the time that decides each board's live period (tests move it)."""
        self._settings = settings
        self._reader = reader
        self._registry = registry
        self._periods = LivePeriods(registry, clock)
        self._producer = producer
        self._metrics = metrics
        self._shutdown = shutdown
        self._retrier = retrier
        self._interval = settings.publisher_interval_seconds
        #: Per board, what the last snapshot showed (``_shown``).
        self._last_shown: dict[str, Shown] = {}
        #: Boards whose cached snapshot was looked for (after a restart).
        self._recalled: set[str] = set()
        self._last_published: dict[str, float] = {}
        #: Partitions of the change notices held: only their holder checks for rollovers,
        #: as only it publishes the notices' snapshots.
        self._partitions: set[tuple[str, int]] = set()
        self._next_rollover_check = 0.0

    def assigned(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._partitions.update((tp.topic, tp.partition) for tp in partitions)

    def revoked(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._partitions.difference_update((tp.topic, tp.partition) for tp in partitions)

    def tick(self) -> None:
        """The consumer loop's periodic call: a rollover check about once a second."""
        now = time.monotonic()
        if not self._partitions or now < self._next_rollover_check:
            return
        self._next_rollover_check = now + ROLLOVER_CHECK_SECONDS
        self.roll_over()

    def roll_over(self) -> None:
        """Publish every defined board whose live period is not the one its last snapshot
        showed: the new period's snapshot, empty until its first score. A board never
        published waits for its first change notice."""
        dirty: dict[str, datetime | None] = {}
        for definition in self._registry.all():
            board = definition.id
            period = self._periods.of_definition(board, definition)
            if board not in self._last_shown and period.id == ALL_TIME:
                continue  # nothing can have rolled over: spare the cache read
            shown = self._recall(board)
            if shown is not None and shown.period != period.id:
                log.info("period rolled over", board=board, period=period.id)
                dirty[board] = None
        self.publish(dirty)

    def handle(self, messages: list[ConsumedRecord]) -> None:
        dirty: dict[str, datetime | None] = {}
        for message in messages:
            try:
                notice = ChangeNotice.model_validate_json(message.value() or b"")
            except ValidationError as exc:
                log.warning(
                    "skipping an invalid change notice",
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    error=str(exc).splitlines()[0],
                )
                continue
            self._metrics.notices.inc()
            for change in notice.changes:
                current = dirty.get(change.leaderboard)
                if current is None or change.newest_event_at > current:
                    dirty[change.leaderboard] = change.newest_event_at
        self.publish(dirty)

    def publish(self, dirty: dict[str, datetime | None]) -> None:
        """Publish every dirty leaderboard, each no sooner than one interval after its last
        (``dirty``: board -> the newest event time its notices reflect, None for none)."""
        pending = dict(dirty)
        published: list[tuple[LeaderboardSnapshot, bytes]] = []
        while pending:
            now = time.monotonic()
            due = [b for b in pending if now - self._last_published.get(b, -1e9) >= self._interval]
            if self._shutdown.requested:
                due = list(pending)  # finish now rather than wait out the interval
            if not due:
                wait = min(self._last_published[b] + self._interval for b in pending) - now
                # Rate limiting, not synchronisation; a stop request cuts it short.
                self._shutdown.wait(max(wait, 0.0))
                continue
            for board in due:
                snapshot = self._snapshot(board, pending.pop(board))
                self._last_published[board] = time.monotonic()
                if snapshot is not None:
                    payload = snapshot.to_json()
                    self._producer.produce(
                        self._settings.topic_leaderboard, key=board.encode(), value=payload
                    )
                    published.append((snapshot, payload))
        if not published:
            return
        remaining = self._producer.flush(FLUSH_TIMEOUT_SECONDS)
        if remaining:
            raise KafkaError(
                f"{remaining} snapshots not acknowledged in {FLUSH_TIMEOUT_SECONDS}s",
                topic=self._settings.topic_leaderboard,
            )
        for snapshot, payload in published:
            self._redis("cache a snapshot", partial(self._reader.cache, snapshot, payload))
            self._last_shown[snapshot.leaderboard] = _shown(snapshot)
            self._metrics.published.inc()
            if snapshot.newest_event_at is not None:
                freshness = (utc_now() - snapshot.newest_event_at).total_seconds()
                self._metrics.freshness_seconds.observe(max(freshness, 0.0))

    def _redis(self, what: str, operation: Callable[[], T]) -> T:
        """Run one Redis operation, waiting out a Redis outage (readiness turns red)."""
        return self._retrier.call(operation, what, {"topic": self._settings.topic_leaderboard})

    def _recall(self, board: str) -> Shown | None:
        """What the board's last snapshot showed; after a restart, the cached one's."""
        if board not in self._last_shown and board not in self._recalled:
            cached = self._redis("read the cache", lambda: self._reader.cached(board))
            self._recalled.add(board)
            if cached is not None:
                self._last_shown[board] = _shown(cached)
        return self._last_shown.get(board)

    def _snapshot(self, board: str, newest_event_at: datetime | None) -> LeaderboardSnapshot | None:
        started = time.perf_counter()
        definition = self._registry.get(board)
        view = BoardView.of(board, definition)
        period = self._periods.of_definition(board, definition)
        entries = self._redis("read the top N", lambda: self._reader.top(board, view, period.id))
        shown = Shown(
            entries, view.title, view.sort, view.format, view.operator, period.id, period.end
        )
        if shown == self._recall(board):
            self._metrics.unchanged.inc()
            return None
        snapshot = LeaderboardSnapshot(
            leaderboard=board,
            version=self._redis("count versions", lambda: self._reader.next_version(board)),
            entries=entries,
            generated_at=utc_now(),
            newest_event_at=newest_event_at,
            title=view.title,
            sort=view.sort,
            format=view.format,
            operator=view.operator,
            period=period.id,
            period_ends_at=period.end,
        )
        self._metrics.publish_seconds.observe(time.perf_counter() - started)
        return snapshot


def _shown(snapshot: LeaderboardSnapshot) -> Shown:
    """A new snapshot is published only when this changed; so a definition's change (a new
    title) is published with the board's next score, not on its own (a new period is
    published at once: ``Publisher.roll_over``)."""
    return Shown(
        snapshot.entries,
        snapshot.title,
        snapshot.sort,
        snapshot.format,
        snapshot.operator,
        snapshot.period,
        snapshot.period_ends_at,
    )


def work(context: ServiceContext[PublisherSettings], batch_size: int = BATCH_SIZE) -> None:
    """The publisher's work: consume change notices until shutdown (``batch_size``: benchmarks)."""
    settings = context.settings
    feed = follow_definitions(settings, context.health, context.shutdown)
    if feed is None:
        return
    redis = Redis(**settings.redis_client_kwargs())
    producer = Producer(producer_config(settings))
    publisher = Publisher(
        settings,
        TopReader(redis, RedisKeys(settings.redis_key_prefix), settings.publisher_top_n),
        producer,
        PublisherMetrics(context.metrics.registry),
        context.shutdown,
        redis_retrier(context.health, context.shutdown),
        feed.registry,
    )
    consumer = Consumer(consumer_config(settings, settings.publisher_group_id))
    try:
        BatchConsumer(
            consumer,
            [settings.topic_leaderboard_change],
            publisher.handle,
            shutdown=context.shutdown,
            metrics=context.metrics,
            batch_size=batch_size,
            health=context.health,
            on_assign=publisher.assigned,
            on_revoke=publisher.revoked,
            tick=publisher.tick,
        ).run()
    finally:
        producer.flush(FLUSH_TIMEOUT_SECONDS)
        redis.close()
        feed.stop(FLUSH_TIMEOUT_SECONDS)
