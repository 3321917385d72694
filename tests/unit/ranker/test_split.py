"""A partition's batch becomes scripts of bounded size that still cover its offsets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from leaderboard.core.events import ScoreEvent
from leaderboard.ranker.apply import ApplyResult, PartitionBatch, merge_results, split


def event() -> ScoreEvent:
    return ScoreEvent(
        event_id=uuid.uuid4(),
        player_id="p",
        score=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        version=1,
    )


def test_a_small_batch_is_one_piece() -> None:
    batch = PartitionBatch(3, 10, 12, [(10, event()), (12, event())])
    assert split(batch, 2) == [batch]


def test_pieces_are_contiguous_and_cover_the_batch_including_skipped_offsets() -> None:
    # Offsets 11 and 15 were poison (dead-lettered), 17-18 too, at the end.
    offsets = [10, 12, 13, 14, 16]
    batch = PartitionBatch(3, 10, 18, [(o, event()) for o in offsets])

    pieces = split(batch, 2)

    assert [(p.first_offset, p.last_offset) for p in pieces] == [(10, 12), (13, 14), (15, 18)]
    assert [[o for o, _ in p.events] for p in pieces] == [[10, 12], [13, 14], [16]]
    assert {p.partition for p in pieces} == {3}


def result(applied: dict[str, int], gap: bool = False, stored: int | None = 5) -> ApplyResult:
    return ApplyResult(3, gap, stored, applied, duplicates=1, already_applied=2)


def test_merged_results_add_up_per_board() -> None:
    merged = merge_results([result({"a": 2, "b": 1}), result({"a": 3}, stored=9)])
    assert merged == ApplyResult(3, False, 5, {"a": 5, "b": 1}, 2, 4)


def test_a_refused_piece_refuses_the_batch_where_it_was_refused() -> None:
    merged = merge_results([result({}, gap=True, stored=4), result({}, gap=True, stored=4)])
    assert (merged.gap, merged.stored_next) == (True, 4)


def test_merged_results_keep_each_boards_newest_event_time() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    first = ApplyResult(3, False, 5, {"a": 1}, 0, 0, {"a": t, "b": t + timedelta(seconds=5)})
    second = ApplyResult(3, False, 6, {"a": 1}, 0, 0, {"a": t + timedelta(seconds=2), "c": t})
    merged = merge_results([first, second])
    assert merged.newest_event_at == {
        "a": t + timedelta(seconds=2),
        "b": t + timedelta(seconds=5),
        "c": t,
    }
