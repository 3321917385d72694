"""The admin API's Redis scripts' replies (the scripts themselves run on the real Redis:
tests/integration/test_admin_standings.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from leaderboard.core.standings import stored_score
from leaderboard.ingest.standings import Removal, parse_removal

REACHED = datetime(2026, 5, 1, 12, 30, 15, tzinfo=UTC)  # on the 64 µs grid of scores < 64


def test_a_removed_standing_is_read_back_in_the_board_s_sign() -> None:
    stored = repr(stored_score(50, REACHED)).encode()
    assert parse_removal([1, [b"all"], stored], "desc") == Removal(
        board_known=True, removed=True, score=50, reached_at=REACHED, periods=("all",)
    )
    # Ascending boards store the negated score.
    removal = parse_removal(
        [1, [b"all"], repr(stored_score(83456, REACHED, "asc")).encode()], "asc"
    )
    assert removal.score == 83456


def test_a_standing_outside_the_live_period_is_removed_without_a_score() -> None:
    # The script's false (no live score) arrives as None.
    assert parse_removal([1, [b"2026-05-01", b"all"], None], "desc") == Removal(
        board_known=True, removed=True, periods=("2026-05-01", "all")
    )


def test_no_standing_means_nothing_removed() -> None:
    assert parse_removal([1, [], None], "desc") == Removal(board_known=True, removed=False)
    assert parse_removal([0, [], None], "asc") == Removal(board_known=False, removed=False)
