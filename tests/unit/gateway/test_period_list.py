from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leaderboard.core.periods import Period, Schedule
from leaderboard.gateway.period_list import (
    ListedPeriod,
    cursor_of,
    merge_periods,
    parse_cursor,
    redis_periods,
)

DAILY = Schedule("daily", "UTC")
NOW = datetime(2026, 12, 3, 0, 2, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def day(period_id: str, state: str = "closed", players: int | None = 3) -> ListedPeriod:
    period = DAILY.period_named(period_id)
    assert period is not None
    return ListedPeriod(period, state, players)  # type: ignore[arg-type]


def ids(items: list[ListedPeriod]) -> list[str]:
    return [item.period.id for item in items]


def test_periods_are_newest_first_and_a_closed_one_wins_over_its_redis_keys() -> None:
    live = day("2026-12-03", "open", 0)
    in_redis = [day("2026-12-02", "grace", 5), day("2026-12-01", "closed", 4)]
    closed = [day("2026-12-01", players=4), day("2026-11-29")]
    page, cursor = merge_periods(live, in_redis, closed, limit=10)
    assert ids(page) == ["2026-12-03", "2026-12-02", "2026-12-01", "2026-11-29"]
    assert page[2] is closed[0]
    assert cursor is None


def test_an_empty_period_is_listed_only_when_it_is_the_live_one() -> None:
    live = day("2026-12-03", "open", 0)
    page, _ = merge_periods(live, [day("2026-12-02", "grace", 0)], [], limit=10)
    assert ids(page) == ["2026-12-03"]


def test_pages_follow_each_other_by_cursor_without_gaps_or_repeats() -> None:
    live = day("2026-12-03", "open", 1)
    in_redis = [day("2026-12-02", "grace")]
    closed = [day(f"2026-11-{d:02d}") for d in range(30, 20, -1)]
    seen: list[str] = []
    after = None
    while True:
        rest = [item for item in closed if after is None or item.key < after]
        page, cursor = merge_periods(live, in_redis, rest[:4], limit=3, after=after)
        seen += ids(page)
        if cursor is None:
            break
        after = parse_cursor(cursor)
    assert seen == ["2026-12-03", "2026-12-02"] + [f"2026-11-{d:02d}" for d in range(30, 20, -1)]


def test_a_period_that_never_ends_comes_first_and_has_a_cursor() -> None:
    forever = ListedPeriod(Period("all", None, None), "open", 2)
    assert parse_cursor(cursor_of(forever.key)) == forever.key
    page, cursor = merge_periods(forever, [], [], limit=1)
    assert (ids(page), cursor) == (["all"], None)


@pytest.mark.parametrize("cursor", ["", "2026-12-02", "12_", "12_bad id", "9" * 20 + "_all"])
def test_a_cursor_that_is_not_ours_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        parse_cursor(cursor)


def test_redis_periods_take_their_bounds_and_state_from_the_schedule() -> None:
    grace = day("2026-12-02").period
    listed = redis_periods(
        {"2026-12-02": 7, "2026-W49": 1}, {"2026-12-02": grace, "2026-W49": None}, NOW, GRACE
    )
    assert listed == [ListedPeriod(grace, "grace", 7)]
