"""The page script's arguments and its reply parsed into ranked entries (the script itself
runs against Redis in tests/integration/test_standings.py)."""

from __future__ import annotations

from leaderboard.core.events import SnapshotEntry
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import page_args, parse_page, parse_rows, script_keys


def test_the_scripts_read_a_boards_sorted_set_and_its_names() -> None:
    keys = RedisKeys("t1")
    assert script_keys(keys, "weekly") == [keys.board("weekly"), keys.names("weekly")]


def test_page_arguments_are_the_first_and_last_index_inclusive() -> None:
    assert page_args(0, 10) == [0, 9]
    assert page_args(20, 5) == [20, 24]


def test_a_page_is_ranked_from_its_offset_with_names_and_whole_scores() -> None:
    reply = [7, b"ada", b"120", b"Ada", b"bob", b"99.0", b""]
    page = parse_page(reply, offset=4)
    assert page.total == 7
    assert page.entries == [
        SnapshotEntry(rank=5, player_id="ada", display_name="Ada", score=120),
        SnapshotEntry(rank=6, player_id="bob", display_name=None, score=99),
    ]


def test_an_unknown_leaderboard_is_an_empty_page() -> None:
    page = parse_page([0], offset=0)
    assert page.total == 0
    assert page.entries == []


def test_rows_are_ranked_from_the_first_rank_given() -> None:
    rows = [b"cy", b"3", b"Cy"]
    assert parse_rows(rows, first_rank=12) == [
        SnapshotEntry(rank=12, player_id="cy", display_name="Cy", score=3)
    ]
