"""Board definitions: when a PUT creates, changes or leaves a definition, and when it
changes how standings rank (a 409 without a reset)."""

from __future__ import annotations

from datetime import UTC, datetime

from leaderboard.core.boards import BoardDefinition, BoardSpec
from leaderboard.ingest.definitions import (
    Change,
    StandingsConflictError,
    changes_scoring,
    plan_put,
)

SPEC = BoardSpec(title="Lap times", operator="best", sort="asc", format="time_ms")


def stored(spec: BoardSpec, revision: int = 3) -> BoardDefinition:
    return BoardDefinition(
        **spec.model_dump(), id="laps", revision=revision, updated_at=datetime.now(UTC)
    )


def test_a_new_board_is_created() -> None:
    assert plan_put(None, SPEC) is Change.CREATED


def test_an_identical_spec_changes_nothing_whatever_the_revision() -> None:
    assert plan_put(stored(SPEC), SPEC) is Change.UNCHANGED
    assert plan_put(
        stored(SPEC, revision=99), BoardSpec.model_validate_json(SPEC.model_dump_json())
    )
    assert plan_put(stored(SPEC), SPEC.model_copy()) is Change.UNCHANGED


def test_any_field_that_differs_is_an_update() -> None:
    for change in (
        {"title": "Laps"},
        {"operator": "latest"},
        {"sort": "desc"},
        {"top_n": 10},
        {"score_min": 0},
        {"metadata": {"season": 1}},
        {"format": "integer"},
    ):
        assert plan_put(stored(SPEC), SPEC.model_copy(update=change)) is Change.UPDATED, change


def test_only_another_operator_sort_reset_or_zone_changes_how_standings_rank() -> None:
    assert not changes_scoring(stored(SPEC), SPEC.model_copy(update={"title": "Laps", "top_n": 5}))
    assert not changes_scoring(stored(SPEC), SPEC.model_copy(update={"grace": 0}))
    for change in (
        {"operator": "latest"},
        {"sort": "desc"},
        {"reset": "daily"},
        {"timezone": "Europe/Berlin"},
    ):
        assert changes_scoring(stored(SPEC), SPEC.model_copy(update=change)), change


def test_a_board_without_a_definition_was_ranked_by_the_defaults() -> None:
    assert not changes_scoring(None, BoardSpec(title="Global"))
    assert changes_scoring(None, SPEC)
    assert changes_scoring(None, BoardSpec(title="Global", sort="asc"))


def test_the_conflict_names_both_rules_and_the_way_out() -> None:
    message = str(StandingsConflictError("laps", stored(SPEC), BoardSpec(title="Laps")))
    assert "operator 'best', sort 'asc', reset 'none', timezone 'UTC')" in message
    assert "changing to operator 'sum', sort 'desc' would mix" in message
    assert "?reset=true" in message
    assert "without a definition" in str(StandingsConflictError("laps", None, SPEC))
