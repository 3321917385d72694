"""Consumed messages become score_events rows, or counted rejections with coordinates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from structlog.testing import capture_logs

from leaderboard.archiver.rows import decode_batch, event_row
from leaderboard.core.events import SAFE_INTEGER, ScoreEvent
from tests.support.kafka_fakes import FakeMessage

TOPIC = "game-score"


def event(**changes: object) -> ScoreEvent:
    fields: dict[str, object] = {
        "event_id": uuid.uuid4(),
        "leaderboard": "weekly",
        "player_id": "player-7",
        "display_name": "Ada",
        "score": 42,
        "occurred_at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        "version": 1,
    }
    return ScoreEvent.model_validate(fields | changes)


def message(value: bytes | None, partition: int = 3, offset: int = 17) -> FakeMessage:
    return FakeMessage(TOPIC, partition, offset, value_bytes=value)  # type: ignore[arg-type]


def test_a_row_holds_every_event_field_and_where_it_was_read() -> None:
    score_event = event()
    row = event_row(score_event, partition=4, offset=123_456_789_012)
    assert row == {
        "event_id": score_event.event_id,
        "leaderboard": "weekly",
        "player_id": "player-7",
        "display_name": "Ada",
        "score": 42,
        "occurred_at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC),
        "version": 1,
        "kafka_partition": 4,
        "kafka_offset": 123_456_789_012,
    }
    assert "archived_at" not in row  # the database's clock sets it


def test_a_missing_display_name_stays_null_and_offsets_keep_their_zone() -> None:
    paris = timezone(timedelta(hours=1))
    row = event_row(event(display_name=None, occurred_at=datetime(2025, 1, 1, tzinfo=paris)), 0, 0)
    assert row["display_name"] is None
    assert row["occurred_at"] == datetime(2024, 12, 31, 23, tzinfo=UTC)


def test_a_nul_in_the_display_name_is_replaced_because_postgresql_refuses_it() -> None:
    row = event_row(event(display_name="A\x00da"), 0, 0)
    assert row["display_name"] == "A\ufffdda"


def test_a_batch_of_valid_messages_becomes_rows_in_order() -> None:
    events = [event(player_id=f"p{i}", score=i + 1) for i in range(3)]
    batch = decode_batch(
        [message(e.to_json(), partition=i, offset=10 + i) for i, e in enumerate(events)]
    )
    assert [row["event_id"] for row in batch.rows] == [e.event_id for e in events]
    assert [(row["kafka_partition"], row["kafka_offset"]) for row in batch.rows] == [
        (0, 10),
        (1, 11),
        (2, 12),
    ]
    assert batch.rejections == []
    assert batch.rejected_by_reason() == {}


def poison_values() -> dict[str, bytes | None]:
    valid = orjson.loads(event().to_json())
    return {
        "not json": b"{not json",
        "no value": None,
        "missing field": orjson.dumps({k: v for k, v in valid.items() if k != "player_id"}),
        "score beyond the contract": orjson.dumps(valid | {"score": SAFE_INTEGER + 1}),
        "future version": orjson.dumps(valid | {"version": 2}),
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("not json", "invalid_json"),
        ("no value", "invalid_json"),
        ("missing field", "invalid_fields"),
        ("score beyond the contract", "score_out_of_bounds"),
        ("future version", "unknown_version"),
    ],
)
def test_each_kind_of_poison_is_rejected_with_the_contracts_reason(name: str, reason: str) -> None:
    batch = decode_batch([message(poison_values()[name], partition=5, offset=99)])
    assert batch.rows == []
    [rejection] = batch.rejections
    assert (rejection.topic, rejection.partition, rejection.offset) == (TOPIC, 5, 99)
    assert rejection.reason == reason
    assert rejection.detail


def test_poison_is_skipped_without_losing_the_valid_events_around_it() -> None:
    good = [event(score=s) for s in (1, 2, 3)]
    poison = poison_values()
    messages = [
        message(good[0].to_json(), offset=0),
        message(poison["not json"], offset=1),
        message(good[1].to_json(), offset=2),
        message(poison["score beyond the contract"], offset=3),
        message(poison["not json"], offset=4),
        message(good[2].to_json(), offset=5),
    ]
    batch = decode_batch(messages)
    assert [row["score"] for row in batch.rows] == [1, 2, 3]
    assert [r.offset for r in batch.rejections] == [1, 3, 4]
    assert batch.rejected_by_reason() == {"invalid_json": 2, "score_out_of_bounds": 1}


def test_every_rejection_logs_a_warning_naming_topic_partition_offset_and_reason() -> None:
    with capture_logs() as logs:
        decode_batch([message(b"[]", partition=2, offset=7)])
    [line] = logs
    assert line["log_level"] == "warning"
    assert (line["topic"], line["partition"], line["offset"]) == (TOPIC, 2, 7)
    assert line["reason"] == "invalid_fields"


@pytest.mark.parametrize("score", [-SAFE_INTEGER, -1, 0, 10**12, SAFE_INTEGER])
def test_every_score_within_the_contract_is_archived_whatever_the_bounds(score: int) -> None:
    # No deployment's or board's bounds here: those are the ranker's, and may change.
    batch = decode_batch([message(event(score=score).to_json())])
    assert [row["score"] for row in batch.rows] == [score]
    assert batch.rejections == []


def test_a_score_beyond_the_contract_is_rejected_naming_the_limit() -> None:
    batch = decode_batch([message(poison_values()["score beyond the contract"])])
    [rejection] = batch.rejections
    assert rejection.reason == "score_out_of_bounds"
    assert "contract limits [-9007199254740991, 9007199254740991]" in rejection.detail


def test_duplicates_in_a_batch_are_kept_for_the_database_to_skip() -> None:
    # The database decides what is a duplicate (it also knows earlier batches).
    score_event = event()
    batch = decode_batch([message(score_event.to_json(), offset=o) for o in (1, 2)])
    assert [row["event_id"] for row in batch.rows] == [score_event.event_id] * 2
