"""Stored scores (integer score + reach fraction), the page script's arguments and its
reply parsed into ranked entries in the board's sign (the scripts themselves run against
Redis in tests/integration/test_standings.py and test_ranker_apply.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from pydantic_core import TzInfo

from leaderboard.core.events import SnapshotEntry
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import (
    board_score,
    page_args,
    parse_page,
    parse_rows,
    reach_code,
    reached_at,
    script_keys,
    sort_sign,
    stored_score,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
SCORES = [0, 1, 2, 7, 8, 999, 1024, 83_456, 1_000_000, 2**31 - 1, 2**40 + 5, 2**52 + 1]


def row(player: str, score: int, name: str = "", at: datetime = T0) -> list[bytes]:
    return [player.encode(), repr(stored_score(score, at)).encode(), name.encode()]


def test_the_scripts_read_a_boards_sorted_set_and_its_names() -> None:
    keys = RedisKeys("t1")
    assert script_keys(keys, "weekly") == [keys.board("weekly"), keys.names("weekly")]


def test_the_scripts_read_one_periods_sorted_set_and_the_boards_names() -> None:
    keys = RedisKeys("t1")
    assert script_keys(keys, "daily", "2026-12-02") == [
        "{t1}:standings:daily:2026-12-02",
        keys.names("daily"),
    ]
    assert script_keys(keys, "daily", "all") == script_keys(keys, "daily")


def test_reach_codes_compare_as_strings_and_numbers_later_lower() -> None:
    earlier, later = T0, T0 + timedelta(microseconds=1)
    assert reach_code(later) < reach_code(earlier)
    assert int(reach_code(later)) == int(reach_code(earlier)) - 1
    assert len(reach_code(later)) == len(reach_code(T0 + timedelta(days=36500))) == 16
    # Outside 1970..2223 times are clamped, never wider or narrower than 16 digits.
    assert reach_code(datetime(1960, 1, 1, tzinfo=UTC)) == str(2**53 - 1)
    assert reach_code(datetime(2300, 1, 1, tzinfo=UTC)) == str(10**15)


@pytest.mark.parametrize("score", SCORES + [-s for s in SCORES])
def test_a_stored_score_gives_back_its_exact_integer_score(score: int) -> None:
    for at in (T0, T0 + timedelta(microseconds=1), datetime(1970, 1, 1, tzinfo=UTC)):
        stored = stored_score(score, at)
        assert board_score(stored) == score
        assert board_score(repr(stored).encode()) == score  # as Redis replies: %.17g
        assert board_score(stored_score(score, at, "asc"), "asc") == score


@pytest.mark.parametrize("score", SCORES + [-s for s in SCORES])
def test_higher_scores_rank_first_and_equal_scores_by_earlier_reach(score: int) -> None:
    early, late = T0, T0 + timedelta(days=400)
    assert stored_score(score + 1, datetime(2255, 1, 1, tzinfo=UTC)) > stored_score(score, early)
    assert stored_score(score, early) >= stored_score(score, late)
    if abs(score) < 2**30:  # a reach resolves to 2^(bits of the score) µs: under 18 min
        assert stored_score(score, early) > stored_score(score, late)


def test_an_ascending_board_ranks_the_lowest_score_first_and_ties_the_same_way() -> None:
    fast, slow = stored_score(79_001, T0, "asc"), stored_score(83_456, T0, "asc")
    assert fast > slow
    assert stored_score(79_001, T0, "asc") > stored_score(79_001, T0 + timedelta(seconds=1), "asc")


@pytest.mark.parametrize(
    ("score", "resolution"),
    [
        (0, timedelta(microseconds=1)),
        (999, timedelta(microseconds=1024)),
        (2**20, timedelta(seconds=2.097152)),
    ],
)
def test_the_reach_is_kept_to_a_resolution_that_grows_with_the_score(
    score: int, resolution: timedelta
) -> None:
    at = T0 + timedelta(microseconds=123_457)
    kept = reached_at(stored_score(score, at))
    assert kept <= at < kept + resolution
    # A time on the grid of the resolution comes back exactly.
    assert reached_at(stored_score(999, T0)) == T0  # T0: a multiple of 2^10 µs


def test_scores_beyond_2_to_the_53_lose_the_reach_not_the_order_of_scores() -> None:
    big = 2**53 - 1
    assert stored_score(big, T0) == float(big)
    assert math.floor(stored_score(big, T0)) == big


def test_page_arguments_are_the_first_and_last_index_inclusive() -> None:
    assert page_args(0, 10) == [0, 9]
    assert page_args(20, 5) == [20, 24]


def test_a_page_is_ranked_from_its_offset_with_names_and_whole_scores() -> None:
    reply = [7, *row("ada", 120, "Ada"), *row("bob", 99)]
    page = parse_page(reply, offset=4)
    assert page.total == 7
    assert page.entries == [
        SnapshotEntry(rank=5, player_id="ada", display_name="Ada", score=120),
        SnapshotEntry(rank=6, player_id="bob", display_name=None, score=99),
    ]


def test_an_ascending_boards_stored_scores_are_negated_back() -> None:
    assert (sort_sign("desc"), sort_sign("asc")) == (1, -1)
    reply = [2, *row("ada", -83456, "Ada"), *row("bob", -90001)]
    assert [entry.score for entry in parse_page(reply, 0, "asc").entries] == [83_456, 90_001]


def test_an_unknown_leaderboard_is_an_empty_page() -> None:
    page = parse_page([0], offset=0)
    assert page.total == 0
    assert page.entries == []


def test_rows_are_ranked_from_the_first_rank_given() -> None:
    assert parse_rows(row("cy", 3, "Cy"), first_rank=12) == [
        SnapshotEntry(rank=12, player_id="cy", display_name="Cy", score=3)
    ]


@pytest.mark.parametrize(
    "zone",
    [UTC, TzInfo(7200), TzInfo(-19800), timezone(timedelta(hours=-5)), ZoneInfo("Europe/Berlin")],
)
def test_a_reach_is_the_same_instant_in_every_time_zone(zone: tzinfo) -> None:
    # Decoded events carry pydantic's TzInfo; Berlin's offset changes on 2026-03-29.
    for instant in (
        T0,
        datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),
        T0 + timedelta(days=90),
    ):
        assert reach_code(instant.astimezone(zone)) == reach_code(instant)
        assert reach_code(instant.astimezone(zone) + timedelta(microseconds=1)) < reach_code(
            instant
        )
