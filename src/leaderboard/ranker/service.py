"""The ranker's consume loop: decode, dead-letter, apply, notify, then store offsets.

Two batches in flight (``BatchConsumer``'s overlap); see docs/services.md, "Ranker".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    Producer,
    TopicPartition,
)
from redis import Redis, RedisError

from leaderboard.core.boards import board_bounds
from leaderboard.core.clients import ConsumedRecord, KafkaConsumer, KafkaProducer
from leaderboard.core.consumer import BatchConsumer, Completion
from leaderboard.core.definitions import BoardRegistry, follow_definitions
from leaderboard.core.erasures import ErasedPlayers, follow_erasures
from leaderboard.core.errors import KafkaError, UnavailableError
from leaderboard.core.events import (
    ChangeNotice,
    InvalidEventError,
    LeaderboardChange,
    ScoreBounds,
    decode_score_event,
    utc_now,
)
from leaderboard.core.kafka import consumer_config, producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.retry import DependencyRetrier, redis_retrier
from leaderboard.core.runtime import ServiceContext
from leaderboard.core.standings import epoch_micros
from leaderboard.ranker.apply import (
    DEFAULT_SCORING,
    ApplyResult,
    BatchApplier,
    PartitionBatch,
    PendingApply,
    Scoring,
)
from leaderboard.ranker.metrics import RankerMetrics
from leaderboard.ranker.periods import PeriodFinder
from leaderboard.ranker.settings import RankerSettings

log = get_logger(__name__)

#: How long the end of a batch may wait for the broker to acknowledge its messages.
FLUSH_TIMEOUT_SECONDS = 30.0
#: Least time between two checks that Redis still holds the applied offsets.
OFFSET_CHECK_SECONDS = 5.0


#: Why an erased player's event is refused (the detail names no player: it is logged).
ERASED = InvalidEventError("erased_player", "the player was erased")
#: How far ahead of its arrival in Kafka an event may have occurred on a board whose
#: periods close (game servers' clocks drift); a later one would open a future period
#: early, or count in a period that has not begun.
MAX_CLOCK_SKEW_MS = 300_000
#: Why an event of a period closed meanwhile is refused (Redis knew before the clock did).
CLOSED = InvalidEventError("period_closed", "the period of its occurred_at was closed")


@dataclass(frozen=True)
class Rules:
    """What the ranker applies to one board's events."""

    scoring: Scoring
    bounds: ScoreBounds
    reset_at: datetime | None  # events that occurred before it do not count
    #: A board with a schedule or a window: which period an event counts in.
    periods: PeriodFinder | None = None


def period_of(rules: Rules, board: str, occurred_at: datetime, arrived_ms: int) -> str | None:
    """The id of the period an event counts in, None for the all-time standings of a
    board whose period never closes; InvalidEventError outside the board's window or when
    it arrived (its record's time in Kafka, ms since 1970) after its period's grace."""
    finder = rules.periods
    if finder is None:
        return None
    ahead_ms = epoch_micros(occurred_at) // 1000 - arrived_ms
    if ahead_ms > MAX_CLOCK_SKEW_MS and finder.closes:
        raise InvalidEventError(
            "occurred_in_future",
            f"occurred_at {occurred_at.isoformat()} is {ahead_ms / 1000:.0f} s after the event "
            f"reached Kafka; a board whose periods close takes at most "
            f"{MAX_CLOCK_SKEW_MS // 1000} s of clock skew",
        )
    found = finder.find(occurred_at)
    if found is None:
        schedule = finder.schedule
        raise InvalidEventError(
            "outside_window",
            f"occurred_at {occurred_at.isoformat()} is outside the window of {board!r} "
            f"(starts_at {_iso(schedule.starts_at)}, ends_at {_iso(schedule.ends_at)})",
        )
    period, grace_ends = found
    if not finder.closes:
        return None
    if arrived_ms >= grace_ends:
        assert period.end is not None  # a period without an end has no grace to end
        arrived = datetime.fromtimestamp(arrived_ms / 1000, UTC)
        raise InvalidEventError(
            "period_closed",
            f"period {period.id} of {board!r} ended at {period.end.isoformat()}; the event "
            f"arrived at {arrived.isoformat()}, after its grace of "
            f"{finder.grace.total_seconds():.0f} s",
        )
    return period.id


def arrival_ms(message: ConsumedRecord, default: int) -> int:
    """When the record reached Kafka, in ms since 1970 (its timestamp: the producer's, or
    the broker's with LogAppendTime), so a lagging or replaying ranker decides as a
    prompt one would."""
    kind, millis = message.timestamp()
    return default if kind == TIMESTAMP_NOT_AVAILABLE else millis


def _iso(moment: datetime | None) -> str:
    return "none" if moment is None else moment.isoformat()


class Ranker:
    """The batch handler and partition hook of the ranker."""

    def __init__(
        self,
        settings: RankerSettings,
        applier: BatchApplier,
        producer: KafkaProducer,
        metrics: RankerMetrics,
        retrier: DependencyRetrier,
        registry: BoardRegistry,
        erased: ErasedPlayers,
    ) -> None:
        self._settings = settings
        self._retrier = retrier
        self._applier = applier
        self._producer = producer
        self._metrics = metrics
        self._registry = registry
        self._erased = erased
        self._bounds = ScoreBounds(settings.score_min, settings.score_max)
        self._create_undefined = settings.ranker_undefined_boards == "create"
        self._consumer: KafkaConsumer | None = None
        # Rewinds per partition so far: a batch started before its partition was rewound
        # was refused for the same gap, and must not rewind it a second time.
        self._rewinds: dict[int, int] = {}
        # Partitions whose next offset this ranker knows Redis holds: a batch of one that
        # finds none there means Redis lost its data, and the partition is replayed.
        self._offset_in_redis: set[int] = set()
        self._next_offset_check = 0.0
        # Per board with a schedule: the definition revision it was built for, and it.
        self._finders: dict[str, tuple[int, PeriodFinder]] = {}

    def on_assign(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Start each new partition where Redis says the next unapplied event is (waiting
        for Redis if it is down: a guessed position could skip or repeat events)."""
        self._consumer = consumer
        numbers = [tp.partition for tp in partitions]
        stored = self._retrier.call(
            lambda: self._applier.stored_offsets(numbers),
            "read the applied offsets of newly assigned partitions",
            {"topic": self._settings.topic_game_score, "partitions": numbers},
        )
        for tp in partitions:
            offset = stored.get(tp.partition)
            tp.offset = OFFSET_BEGINNING if offset is None else offset
            if offset is None:
                self._offset_in_redis.discard(tp.partition)
            else:
                self._offset_in_redis.add(tp.partition)
        consumer.incremental_assign(partitions)
        log.info(
            "positioned from Redis",
            offsets={f"{tp.topic}[{tp.partition}]": tp.offset for tp in partitions},
        )

    def start(self, messages: list[ConsumedRecord]) -> Completion:
        """Decode the batch, dead-letter what is invalid and send the rest to Redis; the
        returned completion waits for Redis's replies and finishes the batch."""
        batches: dict[int, PartitionBatch] = {}
        # Each board's rules, looked up once per batch: a definition changed meanwhile
        # applies from the next batch on. Every partition's batch shares the scorings.
        rules: dict[str, Rules | InvalidEventError] = {}
        scoring: dict[str, Scoring] = {}
        before_reset = 0
        now_ms = int(time.time() * 1000)  # the arrival of a record without a time
        for message in messages:
            partition, offset = message.partition(), message.offset()
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = PartitionBatch(
                    partition, offset, offset, scoring=scoring
                )
            elif offset > batch.last_offset:
                batch.last_offset = offset
            elif offset < batch.first_offset:
                batch.first_offset = offset
            try:
                event = decode_score_event(message.value(), None)
                rule = rules.get(event.leaderboard)
                if rule is None:
                    rule = rules[event.leaderboard] = self._rules(event.leaderboard)
                    if isinstance(rule, Rules) and rule.scoring != DEFAULT_SCORING:
                        scoring[event.leaderboard] = rule.scoring
                if isinstance(rule, InvalidEventError):
                    raise rule
                rule.bounds.check(event.score)
                if self._erased.is_erased(event.player_id):
                    raise ERASED
                period = None
                if rule.periods is not None:
                    arrived = arrival_ms(message, now_ms)
                    period = period_of(rule, event.leaderboard, event.occurred_at, arrived)
            except InvalidEventError as exc:
                self._dead_letter(message, exc)
                continue
            if rule.reset_at is not None and event.occurred_at < rule.reset_at:
                # Also checked in Redis; this check holds when Redis lost the reset.
                before_reset += 1
                continue
            batch.events.append((offset, event))
            if period is not None:
                batch.periods[offset] = period
        self._metrics.before_reset.inc(before_reset)

        rewinds = {partition: self._rewinds.get(partition, 0) for partition in batches}
        sent_at = time.perf_counter()
        pending = self._applier.send(
            list(batches.values()),
            time.time(),
            expect_stored=frozenset(self._offset_in_redis.intersection(batches)),
        )
        return lambda: self._complete(messages, batches, pending, sent_at, rewinds)

    def _rules(self, board: str) -> Rules | InvalidEventError:
        """How ``board`` scores and which events it takes, or why its events are refused."""
        definition = self._registry.get(board)
        if definition is None:
            if self._create_undefined:
                return Rules(DEFAULT_SCORING, self._bounds, None)
            return InvalidEventError(
                "unknown_leaderboard", f"leaderboard {board!r} has no definition"
            )
        bounds = board_bounds(definition, self._bounds)
        scoring = Scoring(definition.operator, definition.sort)
        schedule = definition.schedule
        if not (schedule.resets or schedule.starts_at or schedule.ends_at):
            self._finders.pop(board, None)
            return Rules(scoring, bounds, definition.reset_at)
        held = self._finders.get(board)
        if held is None or held[0] != definition.revision:
            held = (
                definition.revision,
                PeriodFinder(schedule, timedelta(seconds=definition.grace)),
            )
            self._finders[board] = held
        return Rules(scoring, bounds, definition.reset_at, held[1])

    def _complete(
        self,
        messages: list[ConsumedRecord],
        batches: dict[int, PartitionBatch],
        pending: PendingApply,
        sent_at: float,
        rewinds: dict[int, int],
    ) -> list[TopicPartition]:
        results = self._with_retries(lambda: self._applier.finish(pending), messages[0])
        self._metrics.apply_seconds.observe(time.perf_counter() - sent_at)
        gaps = [result for result in results if result.gap]
        if gaps:
            results = self._recover_gaps(gaps, batches, results, messages[0], rewinds)
        self._offset_in_redis.update(result.partition for result in results if not result.gap)

        self._dead_letter_refused(results, messages)
        self._notify(results)
        remaining = self._producer.flush(FLUSH_TIMEOUT_SECONDS)
        if remaining:
            first = messages[0]
            raise KafkaError(
                f"{remaining} dead letters or change notices not acknowledged in "
                f"{FLUSH_TIMEOUT_SECONDS}s; the batch will be redelivered",
                topic=first.topic(),
                partition=first.partition(),
                offset=first.offset(),
            )
        topic = messages[0].topic()
        return [
            TopicPartition(topic, result.partition, batches[result.partition].last_offset + 1)
            for result in results
            if not result.gap
        ]

    def _with_retries(
        self, apply: Callable[[], list[ApplyResult]], first: ConsumedRecord
    ) -> list[ApplyResult]:
        """Apply, retrying while Redis is unreachable (the script is idempotent, so a
        retry after a lost reply is harmless) until it answers or shutdown is asked."""
        return self._retrier.call(
            apply,
            "apply a batch to Redis",
            {"topic": first.topic(), "partition": first.partition(), "offset": first.offset()},
        )

    def _recover_gaps(
        self,
        gaps: list[ApplyResult],
        batches: dict[int, PartitionBatch],
        results: list[ApplyResult],
        first: ConsumedRecord,
        rewinds: dict[int, int],
    ) -> list[ApplyResult]:
        """Rewind partitions whose batch started past Redis's offset, unless that offset
        was deleted by retention, in which case the gap can never be filled."""
        assert self._consumer is not None  # a batch implies an assignment
        topic = self._settings.topic_game_score
        unfillable: set[int] = set()
        for gap in gaps:
            if self._rewinds.get(gap.partition, 0) != rewinds[gap.partition]:
                continue  # rewound since this batch started, for this very gap
            low, _ = self._consumer.get_watermark_offsets(
                TopicPartition(topic, gap.partition), timeout=10.0
            )
            if gap.stored_next is None:
                self._replay(gap.partition, low)
                continue
            context = {
                "topic": topic,
                "partition": gap.partition,
                "offset": batches[gap.partition].first_offset,
                "stored_next": gap.stored_next,
            }
            if gap.stored_next < low:
                log.error("events before the log start were deleted; accepting the gap", **context)
                unfillable.add(gap.partition)
            else:
                self._metrics.gaps.inc()
                log.warning("batch starts past the applied offset; rewinding", **context)
                self._consumer.seek(TopicPartition(topic, gap.partition, gap.stored_next))
                self._rewinds[gap.partition] = self._rewinds.get(gap.partition, 0) + 1
        if not unfillable:
            return results
        retry = [batches[p] for p in sorted(unfillable)]
        retried = self._with_retries(
            lambda: self._applier.apply(retry, time.time(), frozenset(unfillable)), first
        )
        by_partition = {result.partition: result for result in results}
        by_partition.update({result.partition: result for result in retried})
        return list(by_partition.values())

    def on_revoke(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        self._offset_in_redis.difference_update(tp.partition for tp in partitions)

    def tick(self) -> None:
        """The consumer loop's periodic call: every few seconds, check that Redis still
        holds the applied offset of each partition it held one for; a partition without
        new events would otherwise not notice that Redis lost its data."""
        now = time.monotonic()
        if self._consumer is None or not self._offset_in_redis or now < self._next_offset_check:
            return
        self._next_offset_check = now + OFFSET_CHECK_SECONDS
        partitions = sorted(self._offset_in_redis)
        try:
            stored = self._applier.stored_offsets(partitions)
        except RedisError:
            return  # an outage: the batches' retries deal with it
        topic = self._settings.topic_game_score
        for partition in partitions:
            if stored.get(partition) is None:
                low, _ = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10.0
                )
                self._replay(partition, low)

    def _replay(self, partition: int, low: int) -> None:
        """Redis lost its data: rebuild the partition's standings from the start of the
        topic (within retention), as a new ranker group would."""
        assert self._consumer is not None
        topic = self._settings.topic_game_score
        log.error(
            "Redis lost the applied offset; replaying the partition from its start",
            topic=topic,
            partition=partition,
            replay_from=low,
        )
        self._metrics.replays.inc()
        self._offset_in_redis.discard(partition)
        self._consumer.seek(TopicPartition(topic, partition, low))
        self._rewinds[partition] = self._rewinds.get(partition, 0) + 1

    def _dead_letter_refused(
        self, results: list[ApplyResult], messages: list[ConsumedRecord]
    ) -> None:
        """Dead-letter the events Redis refused for an erasure, or a period closed, that
        the ranker had not heard of."""
        refused: dict[tuple[int, int], InvalidEventError] = {}
        for result in results:
            if result.gap:
                continue
            refused.update(((result.partition, o), ERASED) for o in result.erased_offsets)
            refused.update(((result.partition, o), CLOSED) for o in result.closed_offsets)
        if not refused:
            return
        for message in messages:
            error = refused.get((message.partition(), message.offset()))
            if error is not None:
                self._dead_letter(message, error)

    def _dead_letter(self, message: ConsumedRecord, error: InvalidEventError) -> None:
        self._metrics.dead_lettered.labels(error.reason).inc()
        log.warning(
            "invalid score event sent to the dead-letter topic",
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            reason=error.reason,
            detail=error.detail,
        )
        self._producer.produce(
            self._settings.topic_game_score_dlq,
            key=message.key(),
            value=message.value(),
            headers=[
                ("reason", error.reason.encode()),
                ("detail", error.detail.encode()[:1000]),
                ("source-topic", message.topic().encode()),
                ("source-partition", str(message.partition()).encode()),
                ("source-offset", str(message.offset()).encode()),
            ],
        )

    def _notify(self, results: list[ApplyResult]) -> None:
        # Every leaderboard of the batch is named, even if all its events were duplicates
        # or already applied (a retry after a lost reply): the publisher skips unchanged
        # top lists, and a notice lost with a crashed batch is sent again this way.
        newest: dict[str, datetime] = {}
        for result in results:
            if result.gap:
                continue
            self._metrics.applied.inc(result.applied)
            self._metrics.duplicates.inc(result.duplicates)
            self._metrics.already_applied.inc(result.already_applied)
            self._metrics.before_reset.inc(result.before_reset)
            for board, at in result.newest_event_at.items():
                current = newest.get(board)
                if current is None or at > current:
                    newest[board] = at
        if not newest:
            return
        notice = ChangeNotice(
            changes=[
                LeaderboardChange(leaderboard=board, newest_event_at=at)
                for board, at in sorted(newest.items())
            ],
            sent_at=utc_now(),
        )
        self._producer.produce(self._settings.topic_leaderboard_change, value=notice.to_json())
        self._metrics.change_notices.inc()


#: Batches sent to Redis and left uncompleted between polls. With two, Redis always has
#: a whole batch queued behind the one it runs while the ranker decodes the next, so
#: neither waits for the other (docs/benchmarks.md). Up to three batches of messages
#: are held in memory (the oldest is completed after the newest was started).
IN_FLIGHT_BATCHES = 2
#: Most events applied in one batch (docs/benchmarks.md has the sweep behind it).
BATCH_SIZE = 5000


def work(context: ServiceContext[RankerSettings], batch_size: int = BATCH_SIZE) -> None:
    """The ranker's work: consume until shutdown (``batch_size``: benchmarks)."""
    settings = context.settings
    feed = follow_definitions(settings, context.health, context.shutdown)
    if feed is None:
        return
    erasures = follow_erasures(settings, context.health, context.shutdown)
    if erasures is None:
        feed.stop(FLUSH_TIMEOUT_SECONDS)
        return
    redis = Redis(**settings.redis_client_kwargs())
    producer = Producer(producer_config(settings))
    applier = BatchApplier(
        redis,
        RedisKeys(settings.redis_key_prefix),
        settings.ranker_group_id,
        settings.topic_game_score,
        settings.ranker_dedup_window_seconds,
    )
    ranker = Ranker(
        settings,
        applier,
        producer,
        RankerMetrics(context.metrics.registry),
        redis_retrier(context.health, context.shutdown),
        feed.registry,
        erasures.erased,
    )
    consumer = Consumer(consumer_config(settings, settings.ranker_group_id))
    try:
        BatchConsumer(
            consumer,
            [settings.topic_game_score],
            starter=ranker.start,
            shutdown=context.shutdown,
            metrics=context.metrics,
            batch_size=batch_size,
            on_assign=ranker.on_assign,
            on_revoke=ranker.on_revoke,
            tick=ranker.tick,
            health=context.health,
            in_flight=IN_FLIGHT_BATCHES,
        ).run()
    except UnavailableError:
        # Shutdown came while Redis was down: the batches in flight were not stored, so
        # the next ranker consumes them again, and the offset fence skips what did reach
        # Redis.
        log.info("stopped during a Redis outage; the pending batches will be consumed again")
    finally:
        # Replies of a batch abandoned after a failure are dropped with the connection:
        # its offsets were not stored, and its scripts skip what did reach Redis.
        applier.close()
        producer.flush(FLUSH_TIMEOUT_SECONDS)
        redis.close()
        feed.stop(FLUSH_TIMEOUT_SECONDS)
        erasures.stop(FLUSH_TIMEOUT_SECONDS)
