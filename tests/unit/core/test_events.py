"""The score event contract accepts exactly the documented shape and explains rejections."""

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from leaderboard.core.events import (
    SAFE_INTEGER,
    InvalidEventError,
    LeaderboardSnapshot,
    ScoreBounds,
    ScoreEvent,
    SnapshotEntry,
    decode_score_event,
)

BOUNDS = ScoreBounds()


def event_dict(**changes: object) -> dict:
    base = {
        "event_id": str(uuid.uuid4()),
        "leaderboard": "global",
        "player_id": "player-1",
        "display_name": "Ada",
        "score": 10,
        "occurred_at": "2026-11-27T10:00:00+00:00",
        "version": 1,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not ...}


def encode(value: dict) -> bytes:
    return orjson.dumps(value)


def test_a_valid_event_round_trips() -> None:
    raw = encode(event_dict())
    event = decode_score_event(raw, BOUNDS)
    assert event.score == 10
    assert event.occurred_at == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert event.key == b"global:player-1"
    assert decode_score_event(event.to_json(), BOUNDS) == event


def test_optional_fields_take_their_defaults() -> None:
    event = decode_score_event(encode(event_dict(leaderboard=..., display_name=...)), BOUNDS)
    assert event.leaderboard == "global"
    assert event.display_name is None


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (b"{not json", "invalid_json", "JSON"),
        (None, "invalid_json", "no value"),
        (encode(event_dict(player_id=...)), "invalid_fields", "player_id: Field required"),
        (encode(event_dict(score="10")), "invalid_fields", "score"),
        (encode(event_dict(score=1.5)), "invalid_fields", "score"),
        (encode(event_dict(event_id="not-a-uuid")), "invalid_fields", "event_id"),
        (encode(event_dict(occurred_at="2026-11-27T10:00:00")), "invalid_fields", "occurred_at"),
        (encode(event_dict(leaderboard="has space")), "invalid_fields", "leaderboard"),
        (encode(event_dict(extra_field=1)), "invalid_fields", "extra_field"),
        (encode(event_dict(version=2)), "unknown_version", "schema version"),
        (encode(event_dict(version=...)), "invalid_fields", "version: Field required"),
        (encode(event_dict(score=0)), "score_out_of_bounds", "score 0 is outside [1, 1000000]"),
        (encode(event_dict(score=1_000_001)), "score_out_of_bounds", "outside"),
        (encode([1, 2]), "invalid_fields", "message"),
    ],
)
def test_invalid_events_are_rejected_with_a_reason(
    raw: bytes | None, reason: str, detail: str
) -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode_score_event(raw, BOUNDS)
    assert caught.value.reason == reason
    assert detail in caught.value.detail


def test_bounds_are_configurable() -> None:
    raw = encode(event_dict(score=5_000_000))
    assert decode_score_event(raw, ScoreBounds(1, 10_000_000)).score == 5_000_000


@pytest.mark.parametrize("score", [-SAFE_INTEGER, 0, SAFE_INTEGER])
def test_without_bounds_every_score_within_the_contract_is_accepted(score: int) -> None:
    assert decode_score_event(encode(event_dict(score=score)), None).score == score


@pytest.mark.parametrize("score", [SAFE_INTEGER + 1, -SAFE_INTEGER - 1, 10**30])
@pytest.mark.parametrize("bounds", [None, BOUNDS])
def test_a_score_beyond_the_contract_is_out_of_bounds_naming_the_limit(
    score: int, bounds: ScoreBounds | None
) -> None:
    # orjson encodes 64-bit integers only: the score goes in as text.
    raw = encode(event_dict(score=0)).replace(b'"score":0', f'"score":{score}'.encode())
    with pytest.raises(InvalidEventError) as caught:
        decode_score_event(raw, bounds)
    assert caught.value.reason == "score_out_of_bounds"
    assert caught.value.detail == (
        f"score {score} is outside the contract limits "
        "[-9007199254740991, 9007199254740991] (2**53 - 1)"
    )


def test_a_score_beyond_the_contract_with_another_problem_is_invalid_fields() -> None:
    with pytest.raises(InvalidEventError) as caught:
        decode_score_event(encode(event_dict(score=SAFE_INTEGER + 1, player_id=...)), None)
    assert caught.value.reason == "invalid_fields"
    assert "score: score 9007199254740992 is outside the contract limits" in caught.value.detail
    assert "player_id: Field required" in caught.value.detail


def test_an_event_beyond_the_contract_cannot_be_built() -> None:
    fields = orjson.loads(encode(event_dict(score=SAFE_INTEGER + 1)))
    with pytest.raises(ValidationError, match="less than or equal to 9007199254740991"):
        ScoreEvent.model_validate(fields, strict=False)


def test_snapshot_serialises_to_plain_json() -> None:
    snapshot = LeaderboardSnapshot(
        leaderboard="global",
        version=3,
        entries=[SnapshotEntry(rank=1, player_id="p", display_name=None, score=99)],
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
        newest_event_at=None,
    )
    data = orjson.loads(snapshot.to_json())
    assert data["entries"] == [{"rank": 1, "player_id": "p", "display_name": None, "score": 99}]
    assert data["version"] == 3
    assert LeaderboardSnapshot.model_validate_json(snapshot.to_json()) == snapshot


def test_a_snapshot_says_its_period_and_an_older_one_reads_as_all_time() -> None:
    daily = LeaderboardSnapshot(
        leaderboard="daily",
        version=1,
        entries=[],
        generated_at=datetime(2026, 1, 1, tzinfo=UTC),
        newest_event_at=None,
        period="2026-01-01",
        period_ends_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    data = orjson.loads(daily.to_json())
    assert (data["period"], data["period_ends_at"]) == ("2026-01-01", "2026-01-02T00:00:00Z")
    older = {key: value for key, value in data.items() if not key.startswith("period")}
    decoded = LeaderboardSnapshot.model_validate_json(orjson.dumps(older))
    assert (decoded.period, decoded.period_ends_at) == ("all", None)
