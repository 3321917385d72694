"""Members (reach time + player id), the page script's arguments and its reply parsed into
ranked entries in the board's sign (the script itself runs against Redis in
tests/integration/test_standings.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from leaderboard.core.events import SnapshotEntry
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import (
    member,
    page_args,
    parse_page,
    parse_rows,
    player_of,
    reached_at,
    script_keys,
    sort_sign,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def stored(player: str, at: datetime = T0) -> bytes:
    return member(player, at).encode()


def test_the_scripts_read_a_boards_sorted_set_its_names_and_members() -> None:
    keys = RedisKeys("t1")
    assert script_keys(keys, "weekly") == [
        keys.board("weekly"),
        keys.names("weekly"),
        keys.members("weekly"),
    ]


def test_a_member_holds_the_player_and_when_it_reached_its_score() -> None:
    encoded = stored("ada:1@x")
    assert player_of(encoded) == "ada:1@x"
    assert reached_at(encoded) == T0
    # An earlier reach sorts higher, so ZREVRANGE ranks it first among equal scores.
    assert member("bob", T0.replace(hour=11)) > member("ada", T0)


def test_page_arguments_are_the_first_and_last_index_inclusive() -> None:
    assert page_args(0, 10) == [0, 9]
    assert page_args(20, 5) == [20, 24]


def test_a_page_is_ranked_from_its_offset_with_names_and_whole_scores() -> None:
    reply = [7, stored("ada"), b"120", b"Ada", stored("bob"), b"99.0", b""]
    page = parse_page(reply, offset=4)
    assert page.total == 7
    assert page.entries == [
        SnapshotEntry(rank=5, player_id="ada", display_name="Ada", score=120),
        SnapshotEntry(rank=6, player_id="bob", display_name=None, score=99),
    ]


def test_an_ascending_boards_stored_scores_are_negated_back() -> None:
    assert (sort_sign("desc"), sort_sign("asc")) == (1, -1)
    reply = [2, stored("ada"), b"-83456", b"Ada", stored("bob"), b"-90001", b""]
    assert [entry.score for entry in parse_page(reply, 0, "asc").entries] == [83_456, 90_001]


def test_an_unknown_leaderboard_is_an_empty_page() -> None:
    page = parse_page([0], offset=0)
    assert page.total == 0
    assert page.entries == []


def test_rows_are_ranked_from_the_first_rank_given() -> None:
    rows = [stored("cy"), b"3", b"Cy"]
    assert parse_rows(rows, first_rank=12) == [
        SnapshotEntry(rank=12, player_id="cy", display_name="Cy", score=3)
    ]
