"""Each board's live period follows the clock and its definition, worked out again only
when the clock leaves it or the definition changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import BoardRegistry, definition_key
from leaderboard.core.live_periods import ALL_TIME_PERIOD, LivePeriods
from leaderboard.core.periods import Period, Schedule
from tests.support.clock import FakeClock

T0 = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def define(registry: BoardRegistry, board: str, revision: int = 1, **spec: object) -> None:
    definition = BoardDefinition.model_validate(
        {"id": board, "revision": revision, "updated_at": T0, "title": board} | spec
    )
    assert registry.apply(definition_key(board), definition.to_json())


@pytest.fixture
def registry() -> BoardRegistry:
    return BoardRegistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def test_a_board_without_a_definition_or_a_schedule_is_all_time(
    registry: BoardRegistry, clock: FakeClock
) -> None:
    define(registry, "plain")
    periods = LivePeriods(registry, clock)
    assert periods.of("undefined") == ALL_TIME_PERIOD
    assert periods.of("plain") == ALL_TIME_PERIOD


def test_a_daily_board_is_live_in_todays_period_and_moves_at_midnight(
    registry: BoardRegistry, clock: FakeClock
) -> None:
    define(registry, "daily", reset="daily", timezone="Europe/Berlin")
    periods = LivePeriods(registry, clock)
    today = periods.of("daily")
    assert today == Period(
        "2026-12-02",
        datetime(2026, 12, 1, 23, tzinfo=UTC),
        datetime(2026, 12, 2, 23, tzinfo=UTC),
    )
    clock.now = datetime(2026, 12, 2, 22, 59, 59, 999999, tzinfo=UTC)
    assert periods.of("daily") == today
    clock.advance(timedelta(microseconds=1))  # midnight in Berlin
    assert periods.of("daily").id == "2026-12-03"
    clock.now = T0  # a clock set back finds its period again
    assert periods.of("daily") == today


def test_a_new_revision_is_followed_at_once(registry: BoardRegistry, clock: FakeClock) -> None:
    define(registry, "board", reset="daily")
    periods = LivePeriods(registry, clock)
    assert periods.of("board").id == "2026-12-02"
    define(registry, "board", revision=2, reset="monthly")
    assert periods.of("board").id == "2026-12"
    define(registry, "board", revision=3)
    assert periods.of("board").id == "all"


def test_outside_its_window_a_board_shows_its_first_or_last_period(
    registry: BoardRegistry, clock: FakeClock
) -> None:
    starts, ends = datetime(2026, 12, 5, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC)
    define(registry, "cup", reset="daily", starts_at=starts, ends_at=ends)
    periods = LivePeriods(registry, clock)
    assert periods.of("cup").id == "2026-12-05"
    clock.now = starts + timedelta(hours=1)
    assert periods.of("cup").id == "2026-12-05"
    clock.now = ends + timedelta(days=30)
    assert periods.of("cup") == Period("2026-12-07", ends - timedelta(days=1), ends)


def test_a_held_period_is_not_worked_out_again(
    registry: BoardRegistry, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    define(registry, "daily", reset="daily")
    periods = LivePeriods(registry, clock)
    periods.of("daily")
    walks: list[datetime] = []
    live_period = Schedule.live_period

    def counted(schedule: Schedule, now: datetime) -> Period:
        walks.append(now)
        return live_period(schedule, now)

    monkeypatch.setattr(Schedule, "live_period", counted)
    for minutes in range(10):
        clock.now = T0 + timedelta(minutes=minutes)
        periods.of("daily")
    assert walks == []
    clock.now = T0 + timedelta(days=1)
    assert periods.of("daily").id == "2026-12-03"
    assert walks == [clock.now]
