"""Parsing the neighbourhoods script's reply, and trimming a neighbourhood to a radius."""

from __future__ import annotations

from leaderboard.core.events import SnapshotEntry
from leaderboard.gateway.rankings import Neighbourhood, parse_neighbourhoods


def row(player: str, stored: float, name: str = "") -> list[bytes]:
    return [player.encode(), str(stored).encode(), name.encode()]


def test_each_player_gets_its_own_rows_or_none() -> None:
    reply = [
        7,
        *[2, 1, 3],  # "c": 0-based rank 2, rows from index 1, three rows
        *row("b", 40.0, "Bea"),
        *row("c", 30.0),
        *row("d", 20.0),
        -1,  # "zz": not on the board
        *[0, 0, 2],  # "a": first, so one row below only
        *row("a", 50.0),
        *row("b", 40.0, "Bea"),
    ]
    found = parse_neighbourhoods(reply, ["c", "zz", "a"], "desc")
    assert found["c"].total == 7
    assert found["c"].rank == 3
    assert [(e.rank, e.player_id, e.display_name) for e in found["c"].entries] == [
        (2, "b", "Bea"),
        (3, "c", None),
        (4, "d", None),
    ]
    assert found["zz"] == Neighbourhood(total=7, rank=None, entries=[])
    assert found["a"].player == SnapshotEntry(rank=1, player_id="a", score=50)


def test_asc_boards_show_their_own_scores_and_an_unknown_board_has_no_one() -> None:
    found = parse_neighbourhoods([1, 0, 0, 1, *row("a", -83456.0)], ["a"], "asc")
    assert found["a"].entries[0].score == 83456
    empty = parse_neighbourhoods([0], ["a", "b"], "desc")
    assert empty == {p: Neighbourhood(total=0, rank=None, entries=[]) for p in "ab"}


def test_within_keeps_the_player_and_up_to_radius_rows_each_side() -> None:
    entries = [SnapshotEntry(rank=r, player_id=f"p{r}", score=100 - r) for r in range(3, 10)]
    hood = Neighbourhood(total=20, rank=6, entries=entries)
    assert [e.rank for e in hood.within(1).entries] == [5, 6, 7]
    assert [e.rank for e in hood.within(0).entries] == [6]
    assert hood.within(25) == hood
    nobody = Neighbourhood(total=20, rank=None, entries=[])
    assert nobody.within(3) is nobody
