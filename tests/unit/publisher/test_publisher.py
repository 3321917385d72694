"""The publisher coalesces notices, skips unchanged top lists and rate-limits each board;
each snapshot is read and described by its board's definition, of its live period, and a
board whose live period changed is published without a notice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from leaderboard.core.boards import BoardDefinition, BoardView
from leaderboard.core.config import load_settings
from leaderboard.core.definitions import BoardRegistry, definition_key
from leaderboard.core.errors import KafkaError
from leaderboard.core.events import (
    ChangeNotice,
    LeaderboardChange,
    LeaderboardSnapshot,
    SnapshotEntry,
)
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.probes import Health
from leaderboard.core.retry import redis_retrier
from leaderboard.publisher.metrics import PublisherMetrics
from leaderboard.publisher.service import Publisher
from leaderboard.publisher.settings import PublisherSettings
from tests.support.clock import FakeClock
from tests.support.kafka_fakes import FakeMessage, FakeProducer

T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)


class FakeReader:
    """The top lists a test sets (per board and period), a cache and a version counter,
    like TopReader's."""

    def __init__(self) -> None:
        self.tops: dict[tuple[str, str], list[SnapshotEntry]] = {}
        self.cache_store: dict[str, LeaderboardSnapshot] = {}
        self.versions: dict[str, int] = {}
        self.reads: list[str] = []
        self.views: dict[str, BoardView] = {}
        self.periods: dict[str, str] = {}

    def set_top(self, board: str, *scores: tuple[str, int], period: str = ALL_TIME) -> None:
        self.tops[board, period] = [
            SnapshotEntry(rank=i + 1, player_id=p, display_name=None, score=s)
            for i, (p, s) in enumerate(scores)
        ]

    def top(self, board: str, view: BoardView, period: str) -> list[SnapshotEntry]:
        self.reads.append(board)
        self.views[board] = view
        self.periods[board] = period
        return self.tops.get((board, period), [])

    def cached(self, board: str) -> LeaderboardSnapshot | None:
        return self.cache_store.get(board)

    def next_version(self, board: str) -> int:
        self.versions[board] = self.versions.get(board, 0) + 1
        return self.versions[board]

    def cache(self, snapshot: LeaderboardSnapshot, payload: bytes) -> None:
        self.cache_store[snapshot.leaderboard] = snapshot


def notice(*changes: tuple[str, datetime]) -> FakeMessage:
    value = ChangeNotice(
        changes=[LeaderboardChange(leaderboard=b, newest_event_at=at) for b, at in changes],
        sent_at=T0,
    ).to_json()
    return FakeMessage("leaderboard-change", 0, 0, value)


@pytest.fixture
def reader() -> FakeReader:
    return FakeReader()


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


def define(registry: BoardRegistry, board: str, revision: int = 1, **spec: object) -> None:
    definition = BoardDefinition.model_validate(
        {"id": board, "revision": revision, "updated_at": T0, "title": "Lap times"} | spec
    )
    assert registry.apply(definition_key(board), definition.to_json())


def make_publisher(
    reader,
    producer,
    interval: float = 0.05,
    registry: BoardRegistry | None = None,
    clock: FakeClock | None = None,
) -> Publisher:
    settings = load_settings(PublisherSettings, publisher_interval_seconds=interval)
    shutdown = Shutdown(60, hard_exit=lambda code: None)
    return Publisher(
        settings,
        reader,
        producer,
        PublisherMetrics(CollectorRegistry()),
        shutdown,
        redis_retrier(Health(), shutdown),
        registry or BoardRegistry(),
        clock=clock or FakeClock(T0),
    )


def published(producer: FakeProducer) -> list[LeaderboardSnapshot]:
    return [LeaderboardSnapshot.model_validate_json(m.value()) for m in producer.produced]


def test_notices_of_a_batch_are_coalesced_per_leaderboard(reader, producer) -> None:
    reader.set_top("global", ("ada", 10))
    reader.set_top("weekly", ("bob", 5))
    publisher = make_publisher(reader, producer)
    publisher.handle(
        [
            notice(("global", T0)),
            notice(("global", T0 + timedelta(seconds=2)), ("weekly", T0)),
            notice(("global", T0 + timedelta(seconds=1))),
        ]
    )
    snapshots = {s.leaderboard: s for s in published(producer)}
    assert set(snapshots) == {"global", "weekly"}
    assert reader.reads.count("global") == 1
    assert snapshots["global"].newest_event_at == T0 + timedelta(seconds=2)
    assert snapshots["global"].entries[0].player_id == "ada"
    assert producer.produced[0].topic() == "leaderboard"
    assert reader.cache_store["global"] == snapshots["global"]


def test_an_unchanged_top_list_is_not_published(reader, producer) -> None:
    reader.set_top("global", ("ada", 10))
    publisher = make_publisher(reader, producer, interval=0.001)
    publisher.handle([notice(("global", T0))])
    publisher.handle([notice(("global", T0))])
    assert len(producer.produced) == 1
    reader.set_top("global", ("ada", 11))
    publisher.handle([notice(("global", T0))])
    assert [s.version for s in published(producer)] == [1, 2]


def test_after_a_restart_the_cache_prevents_a_duplicate(reader, producer) -> None:
    reader.set_top("global", ("ada", 10))
    make_publisher(reader, producer).handle([notice(("global", T0))])
    restarted = make_publisher(reader, producer)
    restarted.handle([notice(("global", T0))])
    assert len(producer.produced) == 1


def test_a_board_is_published_at_most_once_per_interval(reader, producer) -> None:
    publisher = make_publisher(reader, producer, interval=0.2)
    reader.set_top("global", ("ada", 1))
    publisher.handle([notice(("global", T0))])
    reader.set_top("global", ("ada", 2))
    started = time.monotonic()
    publisher.handle([notice(("global", T0))])
    assert time.monotonic() - started >= 0.15  # it waited out the interval, then published
    assert [s.entries[0].score for s in published(producer)] == [1, 2]


def test_invalid_notices_are_skipped(reader, producer) -> None:
    reader.set_top("global", ("ada", 1))
    publisher = make_publisher(reader, producer)
    publisher.handle([FakeMessage("leaderboard-change", 0, 5, b"garbage"), notice(("global", T0))])
    assert len(producer.produced) == 1


def test_unacknowledged_snapshots_are_not_cached(reader, producer) -> None:
    reader.set_top("global", ("ada", 1))
    producer.hold = True  # nothing is acknowledged
    with pytest.raises(KafkaError, match="not acknowledged"):
        make_publisher(reader, producer).handle([notice(("global", T0))])
    assert reader.cache_store == {}


def test_a_defined_board_is_read_in_its_order_and_described_by_its_definition(
    reader, producer
) -> None:
    registry = BoardRegistry()
    define(registry, "laps", operator="best", sort="asc", format="time_ms", top_n=3)
    reader.set_top("laps", ("ada", 83_456), ("bob", 90_001))
    reader.set_top("global", ("cy", 7))
    make_publisher(reader, producer, registry=registry).handle(
        [notice(("laps", T0), ("global", T0))]
    )
    assert reader.views["laps"] == BoardView("Lap times", "asc", "time_ms", "best", top_n=3)
    snapshots = {s.leaderboard: s for s in published(producer)}
    laps = snapshots["laps"]
    assert (laps.title, laps.sort, laps.format, laps.operator) == (
        "Lap times",
        "asc",
        "time_ms",
        "best",
    )
    assert [e.player_id for e in laps.entries] == ["ada", "bob"]
    # A board without a definition: the defaults, titled by its id.
    assert reader.views["global"] == BoardView("global")
    plain = snapshots["global"]
    assert (plain.title, plain.sort, plain.format, plain.operator) == (
        "global",
        "desc",
        "integer",
        "sum",
    )


def test_a_changed_definition_is_published_even_with_the_same_top_list(reader, producer) -> None:
    registry = BoardRegistry()
    define(registry, "laps")
    reader.set_top("laps", ("ada", 10))
    publisher = make_publisher(reader, producer, interval=0.001, registry=registry)
    publisher.handle([notice(("laps", T0))])
    publisher.handle([notice(("laps", T0))])  # nothing changed
    define(registry, "laps", revision=2, title="Monza laps")
    publisher.handle([notice(("laps", T0))])
    assert [(s.version, s.title) for s in published(producer)] == [
        (1, "Lap times"),
        (2, "Monza laps"),
    ]


def test_a_snapshot_cached_before_definitions_existed_is_republished_once(reader, producer) -> None:
    reader.set_top("global", ("ada", 10))
    reader.cache_store["global"] = LeaderboardSnapshot(
        leaderboard="global",
        version=4,
        entries=reader.tops["global", ALL_TIME],
        generated_at=T0,
        newest_event_at=T0,
    )  # no title: written by an older publisher
    publisher = make_publisher(reader, producer, interval=0.001)
    publisher.handle([notice(("global", T0))])
    publisher.handle([notice(("global", T0))])
    assert [(s.version, s.title) for s in published(producer)] == [(1, "global")]


def test_a_board_without_a_schedule_is_published_all_time(reader, producer) -> None:
    reader.set_top("global", ("ada", 10))
    make_publisher(reader, producer).handle([notice(("global", T0))])
    [snapshot] = published(producer)
    assert reader.periods["global"] == ALL_TIME
    assert (snapshot.period, snapshot.period_ends_at) == (ALL_TIME, None)


def test_a_scheduled_board_is_published_from_its_live_period(reader, producer) -> None:
    registry = BoardRegistry()
    define(registry, "daily", reset="daily", timezone="Europe/Berlin")
    reader.set_top("daily", ("old", 99), period="2026-11-26")
    reader.set_top("daily", ("ada", 10), period="2026-11-27")
    make_publisher(reader, producer, registry=registry, clock=FakeClock(T0)).handle(
        [notice(("daily", T0))]
    )
    [snapshot] = published(producer)
    assert reader.periods["daily"] == "2026-11-27"
    assert [e.player_id for e in snapshot.entries] == ["ada"]
    assert snapshot.period == "2026-11-27"
    assert snapshot.period_ends_at == datetime(2026, 11, 27, 23, tzinfo=UTC)  # Berlin midnight


def daily_registry() -> BoardRegistry:
    registry = BoardRegistry()
    define(registry, "daily", reset="daily")
    return registry


def rolling(reader, producer, clock: FakeClock) -> Publisher:
    """A publisher of a daily (UTC) board that has published the day of T0."""
    reader.set_top("daily", ("ada", 10), period="2026-11-27")
    publisher = make_publisher(
        reader, producer, interval=0.001, registry=daily_registry(), clock=clock
    )
    publisher.handle([notice(("daily", T0))])
    return publisher


def test_a_new_period_is_published_at_rollover_without_a_notice(reader, producer) -> None:
    clock = FakeClock(T0)
    publisher = rolling(reader, producer, clock)
    publisher.roll_over()  # still the same day: nothing
    assert len(producer.produced) == 1
    clock.now = datetime(2026, 11, 28, tzinfo=UTC)
    publisher.roll_over()
    publisher.roll_over()  # published once
    first, rolled = published(producer)
    assert (first.period, first.version) == ("2026-11-27", 1)
    assert (rolled.period, rolled.version, rolled.entries) == ("2026-11-28", 2, [])
    assert rolled.period_ends_at == datetime(2026, 11, 29, tzinfo=UTC)
    assert rolled.newest_event_at is None  # no event is reflected in it yet
    assert reader.cache_store["daily"] == rolled
    # The new period's first score is published as usual.
    reader.set_top("daily", ("bob", 3), period="2026-11-28")
    publisher.handle([notice(("daily", clock.now))])
    assert [e.player_id for e in published(producer)[-1].entries] == ["bob"]


def test_after_a_restart_the_cached_period_decides_a_rollover(reader, producer) -> None:
    clock = FakeClock(T0)
    rolling(reader, producer, clock)
    clock.now = datetime(2026, 11, 28, 0, 0, 5, tzinfo=UTC)
    restarted = make_publisher(
        reader, producer, interval=0.001, registry=daily_registry(), clock=clock
    )
    restarted.roll_over()
    assert [s.period for s in published(producer)] == ["2026-11-27", "2026-11-28"]


def test_a_board_never_published_waits_for_its_first_notice(reader, producer) -> None:
    registry = daily_registry()
    define(registry, "plain")
    publisher = make_publisher(reader, producer, registry=registry, clock=FakeClock(T0))
    publisher.roll_over()
    assert producer.produced == []
    assert reader.reads == []


def test_only_the_holder_of_the_notices_checks_for_rollovers_at_most_once_a_second(
    reader, producer
) -> None:
    clock = FakeClock(T0)
    publisher = rolling(reader, producer, clock)
    clock.now = datetime(2026, 11, 28, tzinfo=UTC)
    partition = [TopicPartition("leaderboard-change", 0)]
    publisher.tick()
    publisher.assigned(None, partition)
    publisher.revoked(None, partition)
    publisher.tick()
    assert len(producer.produced) == 1  # holds no partition of the change notices
    publisher.assigned(None, partition)
    publisher.tick()
    assert [s.period for s in published(producer)] == ["2026-11-27", "2026-11-28"]
    clock.now = datetime(2026, 11, 29, tzinfo=UTC)
    publisher.tick()  # less than ROLLOVER_CHECK_SECONDS after the last check
    assert len(producer.produced) == 2
