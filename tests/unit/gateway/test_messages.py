"""The WebSocket messages of protocol 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.gateway.messages import (
    PROTOCOL_VERSION,
    Update,
    heartbeat_message,
    hello_message,
)

SNAPSHOT = LeaderboardSnapshot(
    leaderboard="global",
    version=4,
    entries=[
        SnapshotEntry(rank=1, player_id="p1", display_name="Ann", score=30),
        SnapshotEntry(rank=2, player_id="p2", score=20),
    ],
    generated_at=datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC),
    newest_event_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    title="Global",
    period="2026-01-01",
    period_ends_at=datetime(2026, 1, 2, tzinfo=UTC),
)


def test_a_snapshot_message_is_the_snapshot_with_type_and_protocol() -> None:
    message = orjson.loads(Update.of(SNAPSHOT).message)
    assert message == {
        "type": "snapshot",
        "protocol": PROTOCOL_VERSION,
        "leaderboard": "global",
        "version": 4,
        "entries": [
            {"rank": 1, "player_id": "p1", "display_name": "Ann", "score": 30},
            {"rank": 2, "player_id": "p2", "display_name": None, "score": 20},
        ],
        "generated_at": "2026-01-01T12:00:01Z",
        "newest_event_at": "2026-01-01T12:00:00Z",
        "title": "Global",
        "sort": "desc",
        "format": "integer",
        "operator": "sum",
        "period": "2026-01-01",
        "period_ends_at": "2026-01-02T00:00:00Z",
    }


def test_hello_says_whether_a_snapshot_follows() -> None:
    hello = orjson.loads(hello_message("weekly", has_snapshot=False, heartbeat_seconds=20))
    assert hello["type"] == "hello"
    assert hello["protocol"] == PROTOCOL_VERSION
    assert hello["leaderboard"] == "weekly"
    assert hello["has_snapshot"] is False
    assert hello["heartbeat_seconds"] == 20
    assert datetime.fromisoformat(hello["server_time"]).tzinfo is not None


def test_heartbeat() -> None:
    heartbeat = orjson.loads(heartbeat_message())
    assert (heartbeat["type"], heartbeat["protocol"]) == ("heartbeat", PROTOCOL_VERSION)


def test_supersedes_compares_versions() -> None:
    older = Update.of(SNAPSHOT)
    newer = Update.of(SNAPSHOT.model_copy(update={"version": 5}))
    assert newer.supersedes(older)
    assert not older.supersedes(newer)
    assert not older.supersedes(Update.of(SNAPSHOT))


def test_a_lower_version_generated_much_later_means_the_counter_was_reset() -> None:
    held = Update.of(SNAPSHOT)
    soon = SNAPSHOT.generated_at + timedelta(seconds=5)
    late = SNAPSHOT.generated_at + timedelta(minutes=5)
    assert not Update.of(
        SNAPSHOT.model_copy(update={"version": 1, "generated_at": soon})
    ).supersedes(held)
    assert Update.of(SNAPSHOT.model_copy(update={"version": 1, "generated_at": late})).supersedes(
        held
    )
