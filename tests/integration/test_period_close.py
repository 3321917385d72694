"""A live rollover on the real stack, with a board that resets every minute, a real ranker
and a real closer: events before and after the minute land in their periods, a late event
inside the grace counts, one after it is dead-lettered, and the minute is closed once:
its standings in PostgreSQL equal what Redis held at the close and exactly one
period-closed message exists, although the closer is SIGKILLed in the middle of the close
and restarted."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import Engine, select

from leaderboard.closer.closing import LATE_RECORDS
from leaderboard.core.keys import RedisKeys
from leaderboard.core.period_tables import period_closes, period_standings
from leaderboard.core.standings import board_score
from leaderboard.devstack.settings import DevstackSettings
from tests.support.database import schema_env
from tests.support.periods import EVERY_MINUTE, MINUTELY, minute_with_room
from tests.support.pipeline import (
    Services,
    period_closed_messages,
    publish_definition,
    read_dead_letters,
)
from tests.support.redis_keys import delete_keys
from tests.support.scores import make_event, produce
from tests.support.services import ServiceProcess, http_status, metric_value, wait_for

pytestmark = pytest.mark.integration

GRACE_SECONDS = 5
#: How long after a minute's end the closer closes it.
CLOSES_AFTER = GRACE_SECONDS + LATE_RECORDS.total_seconds()
#: Players of the closing minute: enough that storing them takes the closer a while, so
#: the SIGKILL lands in the middle of the close.
PLAYERS = 30_000


@pytest.fixture
def services(pipeline: DevstackSettings, tmp_path: Path) -> Iterator[Services]:
    services = Services(pipeline, tmp_path)
    yield services
    services.close()


def minute_board(settings: DevstackSettings) -> str:
    """A board that resets every minute, defined before any service starts."""
    board = f"minute-{uuid.uuid4().hex[:8]}"
    publish_definition(settings, board, title="Minute", reset=EVERY_MINUTE, grace=GRACE_SECONDS)
    return board


def start_closer(services: Services, schema: str) -> ServiceProcess:
    ranker_group = f"ranker-{services.settings.redis_key_prefix}"  # Services' group naming
    return services.start(
        "closer", LEADERBOARD_CLOSER_RANKER_GROUP_ID=ranker_group, **schema_env(schema)
    ).wait_ready()


def standings(redis: Redis, key: str) -> list[tuple[str, int]]:
    """(player, score) in rank order."""
    return [
        (player.decode(), board_score(stored))
        for player, stored in redis.zrevrange(key, 0, -1, withscores=True)
    ]


def stored(db: Engine, board: str, period: str) -> list[tuple[str, int]]:
    with db.connect() as connection:
        rows = connection.execute(
            select(period_standings.c.player_id, period_standings.c.score)
            .where(period_standings.c.leaderboard == board, period_standings.c.period == period)
            .order_by(period_standings.c.rank)
        )
        return [(player, score) for player, score in rows]


def announced_offset(db: Engine, board: str, period: str) -> int | None:
    with db.connect() as connection:
        return connection.execute(
            select(period_closes.c.announced_offset).where(
                period_closes.c.leaderboard == board, period_closes.c.period == period
            )
        ).scalar()


def sleep_until(moment: datetime) -> None:
    left = (moment - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def test_a_minute_rolls_over_and_closes_once_across_a_sigkill(
    pipeline: DevstackSettings,
    services: Services,
    redis: Redis,
    keys: RedisKeys,
    db: Engine,
    schema: str,
) -> None:
    board = minute_board(pipeline)
    services.start("ranker").wait_ready()
    closer = start_closer(services, schema)

    minute = minute_with_room(40)
    assert minute.end is not None
    key = keys.board(board, minute.id)
    produce(pipeline, [make_event(f"p{n}", n % 997 + 1, board) for n in range(PLAYERS)])
    wait_for(lambda: redis.zcard(key) == PLAYERS, 60, "the ranker to apply the minute's events")

    sleep_until(minute.end + timedelta(seconds=0.2))
    next_minute = MINUTELY.period_after(minute)
    assert next_minute is not None
    produce(
        pipeline,
        [
            make_event("late", 5000, board, occurred_at=minute.end - timedelta(seconds=1)),
            make_event("next", 7, board, occurred_at=datetime.now(UTC)),
        ],
    )
    wait_for(lambda: redis.zscore(key, "late") is not None, 30, "the late event to count")
    wait_for(
        lambda: redis.zscore(keys.board(board, next_minute.id), "next") is not None,
        30,
        "the next minute's event to count in the next minute",
    )
    assert standings(redis, key)[0] == ("late", 5000)

    # The close: the closer freezes the minute (closed set), then stores it.
    member = f"{board}/{minute.id}"
    wait_for(
        lambda: redis.sismember(keys.closed(), member),
        CLOSES_AFTER + 30,
        "the closer to freeze the minute",
        every=0.005,
    )
    at_close = standings(redis, key)
    closer.kill()
    assert len(at_close) == PLAYERS + 1, "the close finished before the SIGKILL"
    assert announced_offset(db, board, minute.id) is None

    # After the grace: refused (its record reached Kafka too late) and never counted.
    produce(
        pipeline,
        [make_event("too-late", 9000, board, occurred_at=minute.end - timedelta(seconds=2))],
    )
    [dead] = read_dead_letters(pipeline, 1)
    assert dict(dead.headers())["reason"] == b"period_closed"

    start_closer(services, schema)
    wait_for(
        lambda: announced_offset(db, board, minute.id) is not None,
        60,
        "the restarted closer to store and announce the minute",
    )
    assert stored(db, board, minute.id) == at_close
    assert not redis.exists(key), "the closed minute's keys are still in Redis"
    assert redis.zscore(keys.board(board, next_minute.id), "next") == pytest.approx(7, abs=1)
    messages = [m for m in period_closed_messages(pipeline) if m.period == minute.id]
    assert len(messages) == 1
    [message] = messages
    assert (message.leaderboard, message.players) == (board, PLAYERS + 1)
    assert [(e.player_id, e.score) for e in message.top] == at_close[:10]


def test_after_redis_lost_its_data_open_periods_come_back_and_closed_ones_stay_closed(
    pipeline: DevstackSettings,
    services: Services,
    redis: Redis,
    keys: RedisKeys,
    db: Engine,
    schema: str,
) -> None:
    board = minute_board(pipeline)
    ranker = services.start("ranker").wait_ready()
    start_closer(services, schema)

    closed = minute_with_room(10)
    assert closed.end is not None
    produce(pipeline, [make_event("ada", 30, board), make_event("bob", 20, board)])
    wait_for(
        lambda: announced_offset(db, board, closed.id) is not None,
        (closed.end - datetime.now(UTC)).total_seconds()
        + GRACE_SECONDS
        + LATE_RECORDS.total_seconds()
        + 30,
        "the minute to close",
    )
    final = stored(db, board, closed.id)
    assert final == [("ada", 30), ("bob", 20)]

    live = minute_with_room(30)
    live_key = keys.board(board, live.id)
    produce(pipeline, [make_event("cy", 7, board), make_event("cy", 8, board)])
    wait_for(lambda: redis.zscore(live_key, "cy") is not None, 30, "the live minute's events")
    before = standings(redis, live_key)

    # Redis comes back empty under the running ranker: it replays the score topic.
    delete_keys(redis, keys.prefix)
    produce(pipeline, [make_event("dee", 3, board)])

    wait_for(
        lambda: standings(redis, live_key) == [*before, ("dee", 3)],
        60,
        "the live minute to be rebuilt",
    )
    wait_for(
        lambda: (
            redis.sismember(keys.closed(), f"{board}/{closed.id}")
            and not redis.exists(keys.board(board, closed.id))
        ),
        30,
        "the closed minute to stay closed (closed set back, replayed keys gone)",
    )
    assert stored(db, board, closed.id) == final
    assert len([m for m in period_closed_messages(pipeline) if m.period == closed.id]) == 1
    assert metric_value(ranker.metrics(), "leaderboard_ranker_partition_replays_total") >= 1


def test_one_of_two_closers_works_and_the_other_takes_over_when_it_dies(
    services: Services, schema: str
) -> None:
    closers = [start_closer(services, schema), start_closer(services, schema)]

    def active() -> list[ServiceProcess]:
        return [
            closer
            for closer in closers
            if closer.process is not None
            and closer.process.poll() is None
            and metric_value(closer.metrics(), "leaderboard_closer_active") == 1
        ]

    [working] = wait_for(lambda: len(active()) == 1 and active(), 30, "one active closer")
    time.sleep(2)  # a second pass of both: still one
    assert active() == [working]

    working.kill()
    [standby] = [closer for closer in closers if closer is not working]
    wait_for(lambda: active() == [standby], 30, "the standby to take over")
    assert http_status(f"{standby.base_url}/readyz") == 200
