"""The input model and the body parser: defaults, conversion, and errors that say what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from leaderboard.core.events import SAFE_INTEGER, ScoreBounds, ScoreEvent, decode_score_event
from leaderboard.ingest.models import BOUNDS_CONTEXT, ScoreEventIn, parse_submission

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
BOUNDS = ScoreBounds(1, 1000)
#: Boards defined with bounds of their own; any other board has ``BOUNDS``.
BOARDS = {
    "wide": ScoreBounds(-50, 10**12),
    "narrow": ScoreBounds(10, 20),
    "unbounded": ScoreBounds(-SAFE_INTEGER, SAFE_INTEGER),
}
EVENT_ID = "5b0e7c1e-2f8e-4d8e-9a53-6f1c2b1f9e10"


def bounds_of(board: str) -> ScoreBounds:
    return BOARDS.get(board, BOUNDS)


def parse(body: object, *, max_events: int = 10) -> list[ScoreEvent]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_submission(raw, bounds=bounds_of, max_events=max_events, now=NOW)


def errors(body: object, **kwargs: int) -> list[dict]:
    with pytest.raises(RequestValidationError) as caught:
        parse(body, **kwargs)
    return list(caught.value.errors())


def test_omitted_fields_get_a_new_uuid4_the_server_time_global_and_version_1() -> None:
    [event] = parse({"player_id": "p1", "score": 5})
    assert event.event_id.version == 4
    assert event.occurred_at == NOW
    assert event.leaderboard == "global"
    assert event.version == 1
    assert event.display_name is None


def test_given_fields_are_kept_and_the_result_satisfies_the_contract() -> None:
    occurred = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    body = {
        "event_id": EVENT_ID,
        "leaderboard": "weekly_1",
        "player_id": "player-42",
        "display_name": "Ada",
        "score": 1000,
        "occurred_at": occurred.isoformat(),
        "version": 1,
    }
    [event] = parse(body)
    assert event.event_id == uuid.UUID(EVENT_ID)
    assert (event.leaderboard, event.player_id, event.display_name) == (
        "weekly_1",
        "player-42",
        "Ada",
    )
    assert (event.score, event.occurred_at) == (1000, occurred)
    assert event.key == b"weekly_1:player-42"
    # What ingest produces is exactly what the consumers decode.
    assert decode_score_event(event.to_json(), BOUNDS) == event


def test_null_event_id_and_time_mean_omitted() -> None:
    [event] = parse({"player_id": "p1", "score": 5, "event_id": None, "occurred_at": None})
    assert event.event_id.version == 4
    assert event.occurred_at == NOW


def test_a_batch_keeps_its_order_and_each_omitted_id_is_new() -> None:
    events = parse([{"player_id": f"p{index}", "score": index + 1} for index in range(5)])
    assert [event.player_id for event in events] == ["p0", "p1", "p2", "p3", "p4"]
    assert len({event.event_id for event in events}) == 5


def test_a_retried_event_keeps_its_id() -> None:
    body = {"event_id": EVENT_ID.upper(), "player_id": "p1", "score": 5}
    assert parse(body)[0].event_id == parse(body)[0].event_id == uuid.UUID(EVENT_ID)


def test_score_bounds_errors_name_the_field_the_board_and_its_bounds() -> None:
    [low] = errors({"player_id": "p1", "score": 0})
    assert low["loc"] == ("body", "score")
    assert low["type"] == "score_out_of_bounds"
    assert low["msg"] == "score 0 is outside [1, 1000], the bounds of leaderboard 'global'"
    assert (low["ctx"]["leaderboard"], low["ctx"]["minimum"], low["ctx"]["maximum"]) == (
        "global",
        1,
        1000,
    )
    [high] = errors([{"player_id": "p1", "score": 1}, {"player_id": "p1", "score": 1001}])
    assert high["loc"] == ("body", 1, "score")
    assert high["msg"] == "score 1001 is outside [1, 1000], the bounds of leaderboard 'global'"


def test_each_score_is_checked_against_its_own_board_s_bounds() -> None:
    accepted = parse(
        [
            {"leaderboard": "wide", "player_id": "p1", "score": -50},
            {"leaderboard": "wide", "player_id": "p1", "score": 10**12},
            {"leaderboard": "narrow", "player_id": "p1", "score": 15},
            {"leaderboard": "weekly", "player_id": "p1", "score": 1000},
        ]
    )
    assert [event.score for event in accepted] == [-50, 10**12, 15, 1000]
    refused = errors(
        [
            {"leaderboard": "wide", "player_id": "p1", "score": 10**12 + 1},
            {"leaderboard": "narrow", "player_id": "p1", "score": 9},
            {"leaderboard": "wide", "player_id": "p1", "score": 0},
            {"leaderboard": "weekly", "player_id": "p1", "score": 0},
        ]
    )
    assert [(error["loc"][1], error["ctx"]["leaderboard"]) for error in refused] == [
        (0, "wide"),
        (1, "narrow"),
        (3, "weekly"),
    ]
    assert refused[1]["msg"] == "score 9 is outside [10, 20], the bounds of leaderboard 'narrow'"


@pytest.mark.parametrize("score", [SAFE_INTEGER + 1, -SAFE_INTEGER - 1])
def test_a_score_beyond_the_contract_names_its_limits(score: int) -> None:
    [error] = errors({"leaderboard": "unbounded", "player_id": "p1", "score": score})
    assert (error["loc"], error["type"]) == (("body", "score"), "score_out_of_bounds")
    assert "contract limits [-9007199254740991, 9007199254740991]" in error["msg"]


def test_an_invalid_board_is_refused_for_itself_not_for_its_bounds() -> None:
    [error] = errors({"leaderboard": "a b", "player_id": "p1", "score": 0})
    assert error["loc"] == ("body", "leaderboard")


def test_another_version_is_rejected_with_a_clear_message() -> None:
    [error] = errors({"player_id": "p1", "score": 5, "version": 2})
    assert error["loc"] == ("body", "version")
    assert error["type"] == "unknown_version"
    assert error["msg"] == (
        "unsupported schema version 2: this service accepts version 1 (or omit the field)"
    )


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"score": 5}, ("body", "player_id"), "missing"),
        ({"player_id": "p1"}, ("body", "score"), "missing"),
        ({"player_id": "p1", "score": "5"}, ("body", "score"), "int_type"),
        ({"player_id": "p1", "score": 5.0}, ("body", "score"), "int_type"),
        ({"player_id": "p 1", "score": 5}, ("body", "player_id"), "string_pattern_mismatch"),
        (
            {"player_id": "p1", "score": 5, "leaderboard": "a/b"},
            ("body", "leaderboard"),
            "string_pattern_mismatch",
        ),
        (
            {"player_id": "p1", "score": 5, "display_name": ""},
            ("body", "display_name"),
            "string_too_short",
        ),
        ({"player_id": "p1", "score": 5, "event_id": "nope"}, ("body", "event_id"), "uuid_parsing"),
        (
            {"player_id": "p1", "score": 5, "occurred_at": "2026-01-01T00:00:00"},
            ("body", "occurred_at"),
            "timezone_aware",
        ),
        ({"player_id": "p1", "score": 5, "colour": "red"}, ("body", "colour"), "extra_forbidden"),
    ],
)
def test_field_errors_are_located(body: dict, loc: tuple, kind: str) -> None:
    [error] = errors(body)
    assert (error["loc"], error["type"]) == (loc, kind)
    assert error["msg"]


def test_every_bad_event_of_a_batch_is_reported_at_its_index() -> None:
    found = errors([{"player_id": "p1", "score": 5}, {"score": 5}, {"player_id": "p3"}])
    assert [error["loc"] for error in found] == [("body", 1, "player_id"), ("body", 2, "score")]


def test_the_same_event_id_twice_in_a_batch_is_rejected() -> None:
    body = [{"event_id": EVENT_ID, "player_id": "p1", "score": n} for n in (1, 2)]
    [error] = errors(body)
    assert error["loc"] == ("body", 1, "event_id")
    assert error["msg"] == f"event_id {EVENT_ID} is already used by event 0 of this batch"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the body is empty"),
        (b"  \n", "the body is empty"),
        (b'{"player_id": ', "the body is not valid JSON"),
        (b"[]", "the batch is empty"),
        (b"42", "not int"),
        (b'"x"', "not str"),
    ],
)
def test_a_body_of_the_wrong_shape_is_explained(body: bytes, message: str) -> None:
    [error] = errors(body)
    assert error["loc"] == ("body",)
    assert message in error["msg"]


def test_too_many_events_is_413_saying_the_limit() -> None:
    with pytest.raises(HTTPException) as caught:
        parse([{"player_id": "p1", "score": 1}] * 4, max_events=3)
    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "the batch holds 4 events, over the limit of 3 events per request; "
        "split it into smaller batches"
    )
    assert len(parse([{"player_id": "p1", "score": 1}] * 3, max_events=3)) == 3


def test_the_model_needs_the_bounds_in_its_validation_context() -> None:
    with pytest.raises(TypeError, match=BOUNDS_CONTEXT):
        ScoreEventIn.model_validate_json(b'{"player_id": "p1", "score": 1}')
