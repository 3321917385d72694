"""The fold of board definitions: newest revision wins, tombstones, bad messages; the feed's
catch-up, readiness check and liveness fault on a fake consumer."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from leaderboard.core.boards import BoardDefinition, BoardView
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.definitions import (
    CHECK,
    BoardRegistry,
    DefinitionFeed,
    definition_key,
)
from leaderboard.core.probes import Health
from tests.support.kafka_fakes import FakeAssignedConsumer
from tests.support.services import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC = "definitions-test"


def definition(board: str, revision: int, title: str | None = None) -> BoardDefinition:
    return BoardDefinition(
        id=board, title=title or f"{board} r{revision}", revision=revision, updated_at=T0
    )


def put(registry: BoardRegistry, d: BoardDefinition) -> bool:
    return registry.apply(definition_key(d.id), d.to_json())


def delete(registry: BoardRegistry, board: str) -> bool:
    return registry.apply(definition_key(board), None)


# -- BoardRegistry -----------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations([1, 2, 3])))
def test_the_highest_revision_wins_in_any_arrival_order(order: tuple[int, ...]) -> None:
    registry = BoardRegistry()
    for revision in order:
        put(registry, definition("weekly", revision))
    held = registry.get("weekly")
    assert held is not None
    assert held.revision == 3
    assert held.title == "weekly r3"


def test_a_stale_or_repeated_revision_is_ignored() -> None:
    registry = BoardRegistry()
    assert put(registry, definition("weekly", 5))
    assert not put(registry, definition("weekly", 4, title="older"))
    assert not put(registry, definition("weekly", 5, title="same revision, other content"))
    assert registry.get("weekly") == definition("weekly", 5)
    assert put(registry, definition("weekly", 6))
    assert registry.get("weekly") == definition("weekly", 6)


def test_all_is_sorted_by_id_and_get_misses_unknown_boards() -> None:
    registry = BoardRegistry()
    for board in ("zeta", "alpha", "mid"):
        put(registry, definition(board, 1))
    assert [d.id for d in registry.all()] == ["alpha", "mid", "zeta"]
    assert len(registry) == 3
    assert registry.get("nope") is None


def test_a_boards_view_is_its_definition_or_the_defaults_titled_by_its_id() -> None:
    registry = BoardRegistry()
    laps = definition("laps", 1).model_copy(
        update={"operator": "best", "sort": "asc", "format": "time_ms", "top_n": 20}
    )
    put(registry, laps)
    assert registry.view("laps") == BoardView("laps r1", "asc", "time_ms", "best", top_n=20)
    assert registry.view("weekly") == BoardView(
        title="weekly", sort="desc", format="integer", operator="sum", top_n=None
    )


def test_a_tombstone_removes_the_board() -> None:
    registry = BoardRegistry()
    put(registry, definition("weekly", 2))
    put(registry, definition("daily", 1))
    assert delete(registry, "weekly")
    assert registry.get("weekly") is None
    assert [d.id for d in registry.all()] == ["daily"]
    assert not delete(registry, "weekly")  # a redelivered tombstone changes nothing
    assert not delete(registry, "never-seen")


def test_a_stale_copy_after_a_tombstone_does_not_resurrect_the_board() -> None:
    registry = BoardRegistry()
    put(registry, definition("weekly", 3))
    delete(registry, "weekly")
    assert not put(registry, definition("weekly", 2))
    assert not put(registry, definition("weekly", 3))
    assert registry.get("weekly") is None
    # Re-created: the admin side carries on above the deleted revision.
    assert put(registry, definition("weekly", 4, title="again"))
    held = registry.get("weekly")
    assert held is not None
    assert held.title == "again"


INVALID = "skipping an invalid board definition"
NO_KEY = "skipping a board definition without a usable key"
OTHER_KEY = "skipping a board definition under another board's key"
WEEKLY_9 = definition("weekly", 9).to_json()


@pytest.mark.parametrize(
    ("key", "value", "event"),
    [
        (b"weekly", b"{not json", INVALID),
        (b"weekly", b'{"id": "weekly", "title": "no revision"}', INVALID),
        (b"daily", WEEKLY_9, OTHER_KEY),
        (None, WEEKLY_9, NO_KEY),
        (b"\xff\xfe", WEEKLY_9, NO_KEY),
    ],
)
def test_an_unusable_message_is_logged_with_its_coordinates_and_skipped(
    key: bytes | None, value: bytes, event: str
) -> None:
    registry = BoardRegistry()
    put(registry, definition("weekly", 1))
    with capture_logs() as logs:
        assert not registry.apply(key, value, topic=TOPIC, partition=0, offset=41)
    assert [d.revision for d in registry.all()] == [1]
    (entry,) = logs
    assert entry["event"] == event
    assert entry["log_level"] == "warning"
    assert (entry["topic"], entry["partition"], entry["offset"]) == (TOPIC, 0, 41)
    # The fold goes on after it.
    assert put(registry, definition("weekly", 2))


def test_an_invalid_definition_says_what_is_wrong() -> None:
    with capture_logs() as logs:
        BoardRegistry().apply(b"weekly", b'{"id": "weekly", "title": "t", "revision": 0}')
    assert "revision" in logs[0]["error"]


# -- DefinitionFeed on a fake consumer ---------------------------------------------------


class Harness:
    def __init__(self, high: int = 0) -> None:
        self.settings = LeaderboardSettings(topic_leaderboard_definitions=TOPIC)
        self.health = Health()
        self.registry = BoardRegistry()
        self.consumer = FakeAssignedConsumer({}, TOPIC, high)
        self.feed = DefinitionFeed(
            self.settings, self.registry, self.health, consumer_factory=self.factory
        )

    def factory(self, config: dict[str, Any]) -> FakeAssignedConsumer:
        self.consumer.config = config
        return self.consumer

    def check(self) -> tuple[bool, str]:
        detail = self.health.readiness()[1]["checks"][CHECK]
        return detail["ok"], detail["detail"]

    def push(self, d: BoardDefinition) -> None:
        self.consumer.push(d.to_json(), definition_key(d.id))


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.feed.stop(5)


def test_the_feed_reads_every_partition_from_the_beginning_without_committing(
    harness: Harness,
) -> None:
    harness.feed.start()
    assert harness.feed.wait_caught_up(5)
    assert harness.consumer.assigned is not None
    assert [(tp.topic, tp.partition, tp.offset) for tp in harness.consumer.assigned] == [
        (TOPIC, 0, -2)  # OFFSET_BEGINNING
    ]
    assert harness.consumer.config["enable.auto.commit"] is False
    assert harness.consumer.config["enable.partition.eof"] is True


def test_not_ready_until_caught_up_with_what_existed_at_start(harness: Harness) -> None:
    harness.push(definition("weekly", 1))
    harness.consumer.push(None, definition_key("gone"))
    harness.consumer.skip(2)  # the end of the log was compacted away: no record at high - 1
    assert harness.check() == (False, "not started")
    harness.feed.start()
    assert not harness.feed.wait_caught_up(0.5)
    ok, detail = harness.check()
    assert not ok
    assert "up to its end" in detail
    harness.consumer.end()
    assert harness.feed.wait_caught_up(5)
    assert harness.check() == (True, f"1 board definitions from {TOPIC!r}")
    assert [d.id for d in harness.registry.all()] == ["weekly"]


def test_caught_up_at_the_last_record_and_folds_what_comes_later(harness: Harness) -> None:
    harness.push(definition("weekly", 1))
    harness.push(definition("weekly", 2))
    harness.feed.start()
    assert harness.feed.wait_caught_up(5)
    harness.push(definition("daily", 1))
    wait_for(lambda: harness.registry.get("daily"), 2, "the new definition")


def test_a_dead_thread_fails_liveness_and_readiness() -> None:
    h = Harness()

    def broken(config: dict[str, Any]) -> FakeAssignedConsumer:
        raise RuntimeError("no consumer today")

    feed = DefinitionFeed(h.settings, h.registry, h.health, consumer_factory=broken)
    assert h.health.liveness()[0]
    feed.start()
    assert not feed.wait_caught_up(5)
    live, body = h.health.liveness()
    assert not live
    assert "no consumer today" in body["error"]
    assert not h.check()[0]


def test_a_bug_in_the_loop_fails_liveness(harness: Harness) -> None:
    def poll(timeout: float) -> None:
        raise ValueError("a bug")

    harness.consumer.poll = poll  # type: ignore[method-assign]
    harness.feed.start()
    wait_for(lambda: not harness.health.liveness()[0], 5, "liveness to fail")
    assert "a bug" in harness.health.liveness()[1]["error"]


def test_stop_ends_the_thread_and_closes_the_consumer(harness: Harness) -> None:
    harness.feed.start()
    assert harness.feed.wait_caught_up(5)
    assert harness.feed.stop(5)
    assert harness.consumer.closed
    assert harness.health.liveness()[0]  # a requested stop is no fault
