"""The closer's steps on the real stack, with a clock the test sets: a period closes only
after its grace and once the rankers applied every event that reached Kafka by then; its
standings are stored as Redis froze them, its keys go, and exactly one period-closed
message is committed, also when a crash left it produced but not recorded."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from prometheus_client import CollectorRegistry
from redis import Redis
from sqlalchemy import Engine, insert, select, update

from leaderboard.closer.closing import LATE_RECORDS, Closer, Due, FrozenStandingsError
from leaderboard.closer.kafka import Announcer, RankerProgress
from leaderboard.closer.metrics import CloserMetrics
from leaderboard.closer.settings import CloserSettings
from leaderboard.closer.store import ClosedPeriods, Unannounced
from leaderboard.core.board_tables import erased_players
from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import BoardRegistry, definition_key
from leaderboard.core.erasures import erasure_key
from leaderboard.core.kafka import consumer_config, producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.period_tables import period_closes, period_standings
from leaderboard.core.topic_reader import private_group_id
from leaderboard.devstack.settings import DevstackSettings
from tests.support.clock import FakeClock
from tests.support.pipeline import period_closed_messages
from tests.support.services import wait_for
from tests.support.standings import seed_standings

pytestmark = pytest.mark.integration

DAY = "2026-12-01"
#: The day's end (UTC board) and its grace.
END = datetime(2026, 12, 2, tzinfo=UTC)
GRACE = timedelta(seconds=60)
#: When the day is due: its grace over, and the time late records may take.
DUE = END + GRACE + LATE_RECORDS
REACHED = datetime(2026, 12, 1, 10, tzinfo=UTC)
STANDINGS = {
    "ada": (30, REACHED),
    "bob": (20, REACHED),
    "cy": (20, REACHED + timedelta(seconds=1)),  # tied with bob, reached later
    "dee": (5, REACHED),
}


@pytest.fixture
def settings(pipeline: DevstackSettings, schema: str) -> CloserSettings:
    values = {k: v for k, v in pipeline.model_dump().items() if k in CloserSettings.model_fields}
    return CloserSettings(**values)


@pytest.fixture
def board() -> BoardDefinition:
    return BoardDefinition(
        id=f"daily-{uuid.uuid4().hex[:8]}",
        revision=1,
        updated_at=END - timedelta(days=3),
        title="Daily",
        reset="daily",
        grace=int(GRACE.total_seconds()),
    )


class Harness:
    """A closer on the test's topics, Redis prefix and schema, and what it uses."""

    def __init__(
        self, settings: CloserSettings, redis: Redis, db: Engine, board: BoardDefinition
    ) -> None:
        self.settings = settings
        self.clock = FakeClock(END - timedelta(hours=1))
        self.registry = BoardRegistry()
        self.registry.apply(definition_key(board.id), board.to_json())
        self.store = ClosedPeriods(db)
        self.watermarks = Consumer(consumer_config(settings, private_group_id("test-closer")))
        self.announcers: list[Announcer] = []
        self.redis = redis
        #: What a closer does between two pages of a close (a test's interference).
        self.between_pages: list[Callable[[], None]] = []
        self.closer = self.new_closer()
        wait_for(self._topics_led, 30, "leaders of the test's new topics")

    def _topics_led(self) -> bool:
        for topic in (self.settings.topic_game_score, self.settings.topic_period_closed):
            for partition in (
                self.watermarks.list_topics(topic, timeout=10).topics[topic].partitions
            ):
                try:
                    self.watermarks.get_watermark_offsets(TopicPartition(topic, partition), 5)
                except KafkaException:
                    return False
        return True

    def new_closer(self) -> Closer:
        """A closer as a restarted process has it (a new transactional producer)."""
        announcer = Announcer(self.settings)
        self.announcers.append(announcer)
        return Closer(
            self.registry,
            self.redis,
            RedisKeys(self.settings.redis_key_prefix),
            self.store,
            RankerProgress(self.settings, self.redis, self.watermarks),
            announcer,
            CloserMetrics(CollectorRegistry()),
            self.clock,
            self._between_pages,
        )

    def _between_pages(self) -> None:
        if self.between_pages:
            self.between_pages.pop(0)()

    def close(self) -> None:
        for announcer in self.announcers:
            announcer.close()
        self.watermarks.close()


@pytest.fixture
def harness(
    settings: CloserSettings, redis: Redis, db: Engine, board: BoardDefinition, keys: RedisKeys
) -> Iterator[Harness]:
    harness = Harness(settings, redis, db, board)
    yield harness
    harness.close()


def stored_rows(db: Engine, board: str) -> list[tuple]:
    with db.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    period_standings.c.rank,
                    period_standings.c.player_id,
                    period_standings.c.score,
                    period_standings.c.reached_at,
                )
                .where(period_standings.c.leaderboard == board)
                .order_by(period_standings.c.rank)
            )
        ]


EXPECTED = [
    (1, "ada", 30, REACHED),
    (2, "bob", 20, REACHED),
    (3, "cy", 20, REACHED + timedelta(seconds=1)),
    (4, "dee", 5, REACHED),
]


def test_a_period_closes_after_its_grace_once(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY, names={"ada": "Ada"})

    harness.clock.now = DUE - timedelta(seconds=1)
    harness.closer.run_once()
    assert harness.store.unannounced() == []
    assert redis.zcard(keys.board(board.id, DAY)) == 4, "closed before its grace ended"

    harness.clock.now = DUE
    harness.closer.run_once()
    assert stored_rows(db, board.id) == EXPECTED
    assert redis.sismember(keys.closed(), f"{board.id}/{DAY}")
    assert not redis.exists(keys.board(board.id, DAY), keys.reached(board.id, DAY))
    assert not redis.sismember(keys.periods(board.id), DAY)
    [message] = period_closed_messages(harness.settings)
    assert (message.leaderboard, message.period, message.players) == (board.id, DAY, 4)
    assert message.ends_at == END
    assert [(e.rank, e.player_id, e.score) for e in message.top] == [r[:3] for r in EXPECTED]
    assert message.top[0].display_name == "Ada"

    harness.clock.advance(timedelta(days=1))
    harness.closer.run_once()
    harness.new_closer().run_once()
    assert len(period_closed_messages(harness.settings)) == 1


def test_a_close_waits_for_the_rankers(
    harness: Harness,
    settings: CloserSettings,
    redis: Redis,
    keys: RedisKeys,
    db: Engine,
    board: BoardDefinition,
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY)
    producer = Producer(producer_config(settings))
    producer.produce(settings.topic_game_score, key=b"k", value=b"{}", partition=2)
    assert producer.flush(10) == 0
    offsets = keys.offsets(settings.closer_ranker_group_id, settings.topic_game_score)

    harness.clock.now = DUE
    harness.closer.run_once()
    assert stored_rows(db, board.id) == [], "closed before the rankers applied every event"
    # An event the rankers apply meanwhile still counts (the period is not frozen yet).
    redis.zincrby(keys.board(board.id, DAY), 100, "dee")

    redis.hset(offsets, "2", 1)
    harness.closer.run_once()
    assert [row[1] for row in stored_rows(db, board.id)] == ["dee", "ada", "bob", "cy"]


def test_erased_players_are_left_out(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY)
    with db.begin() as connection:
        connection.execute(insert(erased_players).values(player_hash=erasure_key("bob")))
    try:
        harness.clock.now = DUE
        harness.closer.run_once()
        assert [(r[0], r[1]) for r in stored_rows(db, board.id)] == [
            (1, "ada"),
            (2, "cy"),
            (3, "dee"),
        ]
    finally:
        with db.begin() as connection:
            connection.execute(
                erased_players.delete().where(erased_players.c.player_hash == erasure_key("bob"))
            )


def test_a_message_produced_before_a_crash_is_found_not_repeated(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY)
    harness.clock.now = DUE
    harness.closer.run_once()
    assert len(period_closed_messages(harness.settings)) == 1
    # What a crash after the commit on Kafka and before its record in PostgreSQL leaves.
    with db.begin() as connection:
        connection.execute(
            update(period_closes)
            .where(period_closes.c.leaderboard == board.id)
            .values(announced_partition=None, announced_offset=None)
        )

    harness.new_closer().run_once()
    assert len(period_closed_messages(harness.settings)) == 1
    assert harness.store.unannounced() == []


def test_a_message_never_produced_is_produced_after_a_crash(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY)
    due = Due(board, board.schedule.period_named(DAY))  # type: ignore[arg-type]
    harness.clock.now = DUE
    # A crash after storing, before announcing: the scan start recorded, nothing produced.
    assert harness.closer.close(due)
    harness.store.record_announce_from(board.id, DAY, {0: 0})

    harness.new_closer().run_once()
    [message] = period_closed_messages(harness.settings)
    assert message.players == 4


def test_redis_that_lost_the_closed_set_gets_it_back(
    harness: Harness, redis: Redis, keys: RedisKeys, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY)
    harness.clock.now = DUE
    harness.closer.run_once()
    redis.delete(keys.closed())

    # The module's schema holds its other tests' closes too.
    assert harness.closer.restore_closed() == harness.store.count() >= 1
    assert redis.sismember(keys.closed(), f"{board.id}/{DAY}")
    assert harness.closer.restore_closed() == 0


def test_the_stored_standings_are_those_frozen_whatever_changes_meanwhile(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    many = {f"p{n:04d}": (n + 1, REACHED) for n in range(2500)}  # three pages
    seed_standings(redis, keys, board.id, many, period=DAY)
    # An admin removal of the leader while the close reads its second page.
    harness.between_pages += [
        lambda: None,
        lambda: redis.zrem(keys.board(board.id, DAY), "p2499"),
    ]
    harness.clock.now = DUE
    harness.closer.run_once()
    rows = stored_rows(db, board.id)
    assert len(rows) == 2500
    assert (rows[0][1], rows[-1][1]) == ("p2499", "p0000")


def test_a_close_stops_when_the_frozen_standings_vanish(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    many = {f"p{n:04d}": (n + 1, REACHED) for n in range(1500)}
    seed_standings(redis, keys, board.id, many, period=DAY)
    harness.between_pages += [
        lambda: None,
        lambda: redis.delete(keys.closing(board.id, DAY)) and None,
    ]
    harness.clock.now = DUE
    with pytest.raises(FrozenStandingsError):
        harness.closer.close(Due(board, board.schedule.period_named(DAY)))  # type: ignore[arg-type]
    assert not harness.store.is_closed(board.id, DAY)


def test_a_due_period_that_redis_lost_is_not_closed_empty(
    harness: Harness, redis: Redis, keys: RedisKeys, board: BoardDefinition
) -> None:
    harness.clock.now = DUE
    due = Due(board, board.schedule.period_named(DAY))  # type: ignore[arg-type]
    assert harness.closer.close(due) is False
    assert not harness.store.is_closed(board.id, DAY)
    assert not redis.sismember(keys.closed(), f"{board.id}/{DAY}")


def test_a_nul_in_a_display_name_is_stored_replaced(
    harness: Harness, redis: Redis, keys: RedisKeys, db: Engine, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY, names={"ada": "A\x00da"})
    harness.clock.now = DUE
    harness.closer.run_once()
    with db.connect() as connection:
        name = connection.execute(
            select(period_standings.c.display_name).where(
                period_standings.c.leaderboard == board.id, period_standings.c.player_id == "ada"
            )
        ).scalar_one()
    assert name == "A\ufffdda"
    assert len(period_closed_messages(harness.settings)) == 1


def test_two_closers_at_once_announce_a_period_once(
    harness: Harness, redis: Redis, keys: RedisKeys, board: BoardDefinition
) -> None:
    seed_standings(redis, keys, board.id, STANDINGS, period=DAY)
    harness.clock.now = DUE
    other = harness.new_closer()
    # The other closer read the stored close before this one recorded anything of its
    # message (it lost its lock and does not know yet).
    stale = Unannounced(board.id, DAY, None)

    harness.closer.run_once()
    other.announce(stale)

    assert len(period_closed_messages(harness.settings)) == 1
