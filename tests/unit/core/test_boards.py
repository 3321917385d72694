"""Board definitions: what a spec accepts and refuses, and the topic's JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from leaderboard.core.boards import METADATA_MAX_BYTES, BoardDefinition, BoardSpec


def test_a_spec_defaults_to_today_s_boards() -> None:
    spec = BoardSpec(title="Global")
    assert (spec.operator, spec.sort, spec.format) == ("sum", "desc", "integer")
    assert (spec.score_min, spec.score_max, spec.top_n) == (None, None, None)
    assert spec.metadata == {}


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
        revision=3,
        updated_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
    assert BoardDefinition.from_json(definition.to_json()) == definition


def test_a_definition_s_id_follows_the_leaderboard_id_pattern() -> None:
    with pytest.raises(ValidationError, match="id"):
        BoardDefinition(id="no spaces", title="x", revision=1, updated_at=datetime.now(UTC))
