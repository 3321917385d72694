"""The admin API's Redis scripts' replies, and the order of reset prefixes they rely on
(the scripts themselves run on the real Redis: tests/integration/test_admin_standings.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leaderboard.core.standings import member, reach_prefix
from leaderboard.ingest.standings import Removal, parse_removal

REACHED = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def test_a_removed_standing_is_read_back_in_the_board_s_sign() -> None:
    stored = member("ada", REACHED).encode()
    assert parse_removal([1, stored, b"120"], "desc") == Removal(
        board_known=True, removed=True, score=120, reached_at=REACHED
    )
    # Ascending boards store the negated score.
    assert parse_removal([1, stored, b"-83456"], "asc").score == 83456


def test_no_standing_means_nothing_removed() -> None:
    assert parse_removal([1], "desc") == Removal(board_known=True, removed=False)
    assert parse_removal([0], "asc") == Removal(board_known=False, removed=False)


def test_a_member_without_a_score_is_removed_with_no_score() -> None:
    removal = parse_removal([0, member("ada", REACHED).encode(), b""], "desc")
    assert (removal.removed, removal.score) == (True, None)


def test_a_later_reset_has_the_lower_prefix_as_a_string() -> None:
    # The reset script keeps the later of two resets by comparing prefixes as strings.
    earlier, later = REACHED, REACHED + timedelta(microseconds=1)
    assert reach_prefix(later) < reach_prefix(earlier)
    assert len(reach_prefix(later)) == len(reach_prefix(earlier)) == 16
    assert reach_prefix(REACHED + timedelta(days=3650)) < reach_prefix(earlier)
