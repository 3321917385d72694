"""The per-event baselines: what the original design did, run in this process.

- ranker baseline: a consumer reads the same topic; per event it decodes with the event
  contract, sends one ``ZINCRBY`` to Redis (one round trip) and produces one change
  notice to ``leaderboard-change`` (then ``poll(0)``), as the original Redis consumer
  did after each score.
- archiver baseline: per event one ``INSERT`` and one ``COMMIT`` (SQLAlchemy Core, one
  held connection), into a scratch table of the same shape and indexes as
  ``score_events`` (``CREATE TABLE ... (LIKE score_events INCLUDING ALL)``) in the
  benchmark's schema, as the original SQLAlchemy service did per message.

Both run on a prefix of the workload (the first ``limit`` events consumed) and are
timed from the first event done to the last, so the group join is left out. Kafka
fetching is batched (``consume(500)``) as any client library does; what is per event is
the work the original did per event.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, Producer
from redis import Redis
from sqlalchemy import Engine, MetaData, insert, text

from leaderboard.archiver.rows import event_row
from leaderboard.archiver.schema import score_events
from leaderboard.core.events import (
    ChangeNotice,
    LeaderboardChange,
    ScoreBounds,
    decode_score_event,
    utc_now,
)
from leaderboard.core.kafka import consumer_config, producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from tests.bench.drains import BenchContext
from tests.bench.measure import CpuProbe, CpuSnapshot, CpuUsage, Drain
from tests.support.redis_keys import delete_keys

log = get_logger(__name__)

BASELINE_TABLE = "score_events_baseline"


def _consume(
    consumer: Consumer,
    limit: int,
    max_seconds: float,
    handle: Callable[[Message], None],
    probe: CpuProbe,
) -> tuple[int, float, CpuUsage]:
    """Hand messages one by one to ``handle`` until ``limit`` are done or ``max_seconds``
    passed since the first; returns the events timed, the seconds and the CPU used."""
    done = 0
    before: CpuSnapshot | None = None
    first_done_at: float | None = None
    last_done_at = 0.0
    join_deadline = time.monotonic() + 60
    while done < limit:
        batch = consumer.consume(min(500, limit - done), 1.0)
        if not batch and first_done_at is None and time.monotonic() > join_deadline:
            raise RuntimeError("the baseline consumer got no message within 60 s")
        for message in batch:
            if message.error() is not None:
                continue
            handle(message)
            done += 1
            last_done_at = time.perf_counter()
            if first_done_at is None:
                first_done_at = last_done_at
                before = probe.snapshot()
            if done >= limit or last_done_at - first_done_at > max_seconds:
                break
        if first_done_at is not None and last_done_at - first_done_at > max_seconds:
            break
    assert first_done_at is not None
    assert before is not None
    after = probe.snapshot()
    # The first event marks the start: the events timed are the ones after it.
    return done - 1, last_done_at - first_done_at, CpuProbe.usage(before, after)


def _consumer(ctx: BenchContext, name: str) -> Consumer:
    group = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(consumer_config(ctx.settings, group))
    consumer.subscribe([ctx.settings.topic_game_score])
    return consumer


def ranker_baseline(ctx: BenchContext, limit: int, max_seconds: float) -> Drain:
    """One ZINCRBY and one change notice per event."""
    prefix = f"base{uuid.uuid4().hex[:8]}"
    keys = RedisKeys(prefix)
    redis = Redis(**ctx.settings.redis_client_kwargs())
    producer = Producer(producer_config(ctx.settings))
    consumer = _consumer(ctx, "ranker-baseline")
    bounds = ScoreBounds(ctx.settings.score_min, ctx.settings.score_max)
    topic = ctx.settings.topic_leaderboard_change

    def handle(message: Message) -> None:
        event = decode_score_event(message.value(), bounds)
        redis.zincrby(keys.board(event.leaderboard), event.score, event.player_id)
        notice = ChangeNotice(
            changes=[
                LeaderboardChange(leaderboard=event.leaderboard, newest_event_at=event.occurred_at)
            ],
            sent_at=utc_now(),
        )
        while True:
            try:
                producer.produce(topic, value=notice.to_json())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)

    log.info("ranker baseline starting", limit=limit)
    try:
        events, seconds, cpu = _consume(consumer, limit, max_seconds, handle, ctx.probe())
        producer.flush(60)
    finally:
        consumer.close()
        delete_keys(redis, prefix)
        redis.close()
    return Drain(events, seconds, cpu)


def create_baseline_table(engine: Engine, schema: str) -> None:
    """The scratch table, empty: ``score_events``' columns, defaults, keys and indexes
    (emptied when an earlier round filled it, as its rows would conflict)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {schema}.{BASELINE_TABLE} "
                f"(LIKE {schema}.score_events INCLUDING ALL)"
            )
        )
        connection.execute(text(f"TRUNCATE {schema}.{BASELINE_TABLE}"))


def archiver_baseline(ctx: BenchContext, limit: int, max_seconds: float) -> Drain:
    """One INSERT and one COMMIT per event."""
    create_baseline_table(ctx.engine, ctx.schema)
    table = score_events.to_metadata(MetaData(), schema=ctx.schema, name=BASELINE_TABLE)
    statement = insert(table)
    consumer = _consumer(ctx, "archiver-baseline")
    bounds = ScoreBounds(ctx.settings.score_min, ctx.settings.score_max)
    log.info("archiver baseline starting", limit=limit)
    with ctx.engine.connect() as connection:

        def handle(message: Message) -> None:
            event = decode_score_event(message.value(), bounds)
            row: dict[str, Any] = event_row(event, message.partition(), message.offset())
            connection.execute(statement, row)
            connection.commit()

        try:
            events, seconds, cpu = _consume(consumer, limit, max_seconds, handle, ctx.probe())
        finally:
            consumer.close()
    return Drain(events, seconds, cpu)
