"""The archiver worker: wiring settings, PostgreSQL and Kafka into one batch loop.

Each batch is written on a writer thread while the next is decoded (docs/services.md).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer
from sqlalchemy import Engine

from leaderboard.archiver import migrate
from leaderboard.archiver.metrics import ArchiverMetrics
from leaderboard.archiver.retry import CHECK, PostgresRetrier
from leaderboard.archiver.rows import DecodedBatch, decode_batch
from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.archiver.store import (
    InsertResult,
    PreparedBatch,
    ScoreStore,
    create_archive_engine,
)
from leaderboard.core.clients import ConsumedRecord
from leaderboard.core.consumer import BatchConsumer, Completion
from leaderboard.core.errors import DatabaseUnavailableError
from leaderboard.core.kafka import consumer_config
from leaderboard.core.logging import get_logger
from leaderboard.core.runtime import ServiceContext

log = get_logger(__name__)

#: Most messages consumed and inserted per batch (one transaction).
BATCH_SIZE = 5000
#: Longest wait for a batch to fill before what came is written: bounds how stale the
#: archive is under light traffic.
POLL_TIMEOUT_SECONDS = 0.5
#: Waits between attempts at a batch PostgreSQL did not accept: doubling from the first
#: to the last, retried until it comes back or the process is stopped.
RETRY_MIN_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0
#: Kafka ``max.poll.interval.ms``: how long a batch may stay pending (PostgreSQL down)
#: before the consumer leaves its group; see ``archiver_consumer_config``.
MAX_POLL_INTERVAL_MS = 1_800_000


class ArchiveHandler:
    """The ``BatchConsumer`` starter: one consumed batch into one committed insert.

    The batch is decoded and prepared on the consumer's thread and written on the ``writer`` thread
    (one thread, so batches commit in the order they were consumed); meanwhile the
    consumer's thread decodes the next batch.
    """

    def __init__(
        self,
        store: ScoreStore,
        retrier: PostgresRetrier,
        metrics: ArchiverMetrics,
        writer: Executor,
    ) -> None:
        self._store = store
        self._retrier = retrier
        self._metrics = metrics
        self._writer = writer

    def start(self, messages: list[ConsumedRecord]) -> Completion:
        """Decode the batch and queue its insert; the completion waits for the commit."""
        batch = decode_batch(messages)
        prepared = self._store.prepare(batch.rows)
        first, last = messages[0], messages[-1]
        context = {
            "topic": first.topic(),
            "partition": first.partition(),
            "offset": first.offset(),
            "last_partition": last.partition(),
            "last_offset": last.offset(),
            "batch_size": len(messages),
        }
        inserting = self._writer.submit(
            self._retrier.call,
            lambda: self._insert(prepared),
            "insert a batch of score events",
            context,
        )
        return lambda: self._complete(batch, inserting.result())

    def _complete(self, batch: DecodedBatch, result: InsertResult) -> None:
        # Counted once the batch is durable, so a batch that is abandoned and consumed
        # again is not counted twice.
        self._metrics.events_archived.inc(result.inserted)
        self._metrics.events_duplicate.inc(result.duplicates)
        self._metrics.events_erased.inc(result.erased)
        for reason, count in batch.rejected_by_reason().items():
            self._metrics.events_rejected.labels(reason).inc(count)
        log.debug(
            "batch archived",
            inserted=result.inserted,
            duplicates=result.duplicates,
            rejected=len(batch.rejections),
        )

    def _insert(self, prepared: PreparedBatch) -> InsertResult:
        if not prepared.rows:
            return InsertResult(0, 0)
        started = time.perf_counter()
        result = self._store.write(prepared)
        # Successful attempts only: a refused connection says nothing about insert speed.
        self._metrics.insert_seconds.observe(time.perf_counter() - started)
        return result


def prepare_schema(engine: Engine, settings: ArchiverSettings) -> None:
    """Migrate (``archiver_migrate_on_start``) or check that the schema is migrated."""
    if settings.archiver_migrate_on_start:
        migrate.upgrade(engine)
    else:
        migrate.check_schema(engine)


def archiver_consumer_config(settings: ArchiverSettings) -> dict[str, Any]:
    """The group consumer's configuration, with room for a PostgreSQL outage.

    While a batch waits for PostgreSQL the loop does not poll; past
    ``max.poll.interval.ms`` librdkafka would leave the group and every replica, stuck
    on the same database, would rebalance over and over. A long interval keeps the
    assignment stable through an outage; a truly wedged process stops heartbeating and
    fails its liveness probe instead, and its restart frees the partitions.
    """
    return consumer_config(
        settings,
        settings.archiver_group_id,
        **{"max.poll.interval.ms": MAX_POLL_INTERVAL_MS},
    )


def work(context: ServiceContext[ArchiverSettings], batch_size: int = BATCH_SIZE) -> None:
    """Archive ``game-score`` until shutdown is requested (``batch_size``: benchmarks)."""
    settings = context.settings
    context.health.set_check(CHECK, False, "connecting")
    metrics = ArchiverMetrics(context.metrics.registry)
    retrier = PostgresRetrier(
        health=context.health,
        shutdown=context.shutdown,
        metrics=metrics,
        min_wait=RETRY_MIN_SECONDS,
        max_wait=RETRY_MAX_SECONDS,
    )
    engine = create_archive_engine(settings)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-writer")
    try:
        try:
            retrier.call(lambda: prepare_schema(engine, settings), "prepare the schema")
        except DatabaseUnavailableError:
            log.info("stopped before PostgreSQL became available")
            return
        handler = ArchiveHandler(ScoreStore(engine), retrier, metrics, writer)
        consumer = BatchConsumer(
            Consumer(archiver_consumer_config(settings)),
            [settings.topic_game_score],
            starter=handler.start,
            shutdown=context.shutdown,
            metrics=context.metrics,
            batch_size=batch_size,
            poll_timeout=POLL_TIMEOUT_SECONDS,
            health=context.health,
        )
        try:
            consumer.run()
        except DatabaseUnavailableError:
            # The batch in flight was not stored and its offsets were not stored either:
            # the next archiver consumes it again.
            log.info("stopped during a PostgreSQL outage; the pending batch will be redelivered")
    finally:
        # A batch still queued after a failure is abandoned: it was not stored, so it is
        # consumed again, and its insert skips whatever of it was committed.
        writer.shutdown(wait=True, cancel_futures=True)
        engine.dispose()
