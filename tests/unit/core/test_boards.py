"""Board definitions: what a spec accepts and refuses, and the topic's JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from leaderboard.core.boards import METADATA_MAX_BYTES, BoardDefinition, BoardSpec, board_bounds
from leaderboard.core.events import SAFE_INTEGER, ScoreBounds


def test_a_spec_defaults_to_today_s_boards() -> None:
    spec = BoardSpec(title="Global")
    assert (spec.operator, spec.sort, spec.format) == ("sum", "desc", "integer")
    assert (spec.score_min, spec.score_max, spec.top_n) == (None, None, None)
    assert spec.metadata == {}
    assert (spec.reset, spec.timezone, spec.starts_at, spec.ends_at, spec.grace) == (
        "none",
        "UTC",
        None,
        None,
        300,
    )


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"operator": "max"}, "operator"),
        ({"sort": "up"}, "sort"),
        ({"format": "seconds"}, "format"),
        ({"top_n": 0}, "top_n"),
        ({"top_n": 101}, "top_n"),
        ({"title": ""}, "title"),
        ({"colour": "red"}, "colour"),
        ({"score_min": 10, "score_max": 1}, "score_min 10 is above score_max 1"),
        ({"metadata": {"blob": "x" * METADATA_MAX_BYTES}}, "more than 4096"),
        ({"score_min": -SAFE_INTEGER - 1}, r"score_min\n.*within the contract limits"),
        ({"score_max": SAFE_INTEGER + 1}, r"score_max\n.*within the contract limits"),
        ({"reset": "hourly"}, r"reset\n.*cron expression of 5 fields"),
        ({"reset": "0 0 31 2 *"}, r"reset\n.*not a valid cron expression: Bad day-of-month"),
        ({"reset": "* " * 60}, r"reset\n.*at most 100 characters"),
        ({"timezone": "Europe/Atlantis"}, r"timezone\n.*not an IANA time zone"),
        ({"grace": -1}, r"grace\n.*greater than or equal to 0"),
        ({"grace": 7 * 86400 + 1}, r"grace\n.*less than or equal to 604800"),
        ({"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}, "not before"),
        ({"starts_at": "2026-12-02T00:00:00"}, r"starts_at\n.*timezone"),
    ],
)
def test_a_bad_spec_names_what_is_wrong(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        BoardSpec.model_validate({"title": "Lap times"} | fields)


def test_a_definition_round_trips_through_its_json() -> None:
    definition = BoardDefinition(
        id="lap-times",
        title="Lap times",
        metadata={"track": "monza"},
        operator="best",
        sort="asc",
        format="time_ms",
        reset="0 6 * * mon",
        timezone="Europe/Berlin",
        starts_at=datetime(2026, 12, 1, tzinfo=UTC),
        grace=0,
        revision=3,
        updated_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
    assert BoardDefinition.from_json(definition.to_json()) == definition


def test_a_definition_s_id_follows_the_leaderboard_id_pattern() -> None:
    with pytest.raises(ValidationError, match="id"):
        BoardDefinition(id="no spaces", title="x", revision=1, updated_at=datetime.now(UTC))


def test_bounds_up_to_the_contract_limit_are_accepted() -> None:
    spec = BoardSpec(title="Wide", score_min=-SAFE_INTEGER, score_max=SAFE_INTEGER)
    assert (spec.score_min, spec.score_max) == (-SAFE_INTEGER, SAFE_INTEGER)


DEPLOYMENT = ScoreBounds(1, 1000)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, DEPLOYMENT),
        (BoardSpec(title="Plain"), DEPLOYMENT),
        (BoardSpec(title="Wide", score_min=-5, score_max=10**12), ScoreBounds(-5, 10**12)),
        (BoardSpec(title="Low", score_max=50), ScoreBounds(1, 50)),
        (BoardSpec(title="High", score_min=500), ScoreBounds(500, 1000)),
    ],
)
def test_a_board_s_bounds_fall_back_to_the_deployment_s_per_bound(
    spec: BoardSpec | None, expected: ScoreBounds
) -> None:
    assert board_bounds(spec, DEPLOYMENT) == expected
