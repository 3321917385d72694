"""The closer's loop: wait for the lock, then close and announce about once a second.

A standby closer (another replica) stays ready and takes over when the lock frees up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from confluent_kafka import Consumer, KafkaException
from redis import Redis, RedisError
from sqlalchemy.exc import SQLAlchemyError

from leaderboard.closer.closing import Closer
from leaderboard.closer.kafka import Announcer, RankerProgress
from leaderboard.closer.metrics import CloserMetrics
from leaderboard.closer.settings import CloserSettings
from leaderboard.closer.store import ClosedPeriods, LeaderLock, lock_key
from leaderboard.core.database import create_postgres_engine
from leaderboard.core.definitions import follow_definitions
from leaderboard.core.errors import LeaderboardError
from leaderboard.core.events import utc_now
from leaderboard.core.kafka import consumer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.logging import get_logger
from leaderboard.core.runtime import ServiceContext
from leaderboard.core.topic_reader import private_group_id

log = get_logger(__name__)

#: Pause between two passes.
PASS_SECONDS = 1.0
#: Least time between two checks that Redis still holds every closed period.
RESTORE_CHECK_SECONDS = 10.0
#: The readiness check of the passes.
CHECK = "closing"


def work(context: ServiceContext[CloserSettings], clock: Callable[[], datetime] = utc_now) -> None:
    """The closer's work: close periods while it holds the lock, until shutdown."""
    settings = context.settings
    feed = follow_definitions(settings, context.health, context.shutdown)
    if feed is None:
        return
    redis = Redis(**settings.redis_client_kwargs())
    engine = create_postgres_engine(settings, pool_size=2)
    watermarks = Consumer(
        consumer_config(settings, private_group_id(settings.service_name, "ends"))
    )
    announcer = Announcer(settings)
    lock = LeaderLock(engine, lock_key(settings.redis_key_prefix))
    metrics = CloserMetrics(context.metrics.registry)
    closer = Closer(
        feed.registry,
        redis,
        RedisKeys(settings.redis_key_prefix),
        ClosedPeriods(engine),
        RankerProgress(settings, redis, watermarks),
        announcer,
        metrics,
        clock,
        context.health.heartbeat,
    )
    context.health.started()
    try:
        _loop(context, closer, lock, metrics)
    finally:
        lock.release()
        announcer.close()
        watermarks.close()
        redis.close()
        engine.dispose()
        feed.stop(settings.shutdown_timeout_seconds)


def _loop(
    context: ServiceContext[CloserSettings],
    closer: Closer,
    lock: LeaderLock,
    metrics: CloserMetrics,
) -> None:
    restore_due = 0.0
    while not context.shutdown.requested:
        context.health.heartbeat()
        try:
            if lock.held and not lock.check():
                log.warning("lost the closer lock; standing by")
                metrics.active.set(0)
            if not lock.held and lock.acquire():
                log.info("holding the closer lock; closing periods")
                metrics.active.set(1)
                restore_due = 0.0
            if lock.held:
                if time.monotonic() >= restore_due:
                    closer.restore_closed()
                    restore_due = time.monotonic() + RESTORE_CHECK_SECONDS
                closer.run_once()
            context.health.set_check(CHECK, True)
        except (RedisError, SQLAlchemyError, KafkaException, LeaderboardError) as exc:
            # Every step can be repeated: the next pass picks up where this one stopped.
            log.warning("a pass of the closer failed; retrying", error=str(exc))
            context.health.set_check(CHECK, False, type(exc).__name__)
        context.shutdown.wait(PASS_SECONDS)
