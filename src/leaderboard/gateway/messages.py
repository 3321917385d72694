"""The WebSocket protocol's messages (version 1; docs/api.md documents them for clients).

``Update``: one snapshot, parsed, serialised and framed once for every client;
``PlayerUpdate``: one watched player's row and neighbours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry, utc_now

PROTOCOL_VERSION = 1
#: A snapshot generated this much later than the one held wins even with a lower version.
VERSION_RESET_AFTER = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Update:
    """One leaderboard snapshot and its serialised ``snapshot`` message."""

    snapshot: LeaderboardSnapshot
    message: str
    #: The message as one complete WebSocket text frame.
    frame: bytes
    #: ``time.monotonic()`` when the gateway received it (for the send latency).
    received_at: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, snapshot: LeaderboardSnapshot, received_at: float | None = None) -> Update:
        message = snapshot_message(snapshot)
        return cls(
            snapshot=snapshot,
            message=message,
            frame=text_frame(message.encode()),
            received_at=time.monotonic() if received_at is None else received_at,
        )

    @property
    def leaderboard(self) -> str:
        return self.snapshot.leaderboard

    @property
    def newest_event_at(self) -> datetime | None:
        return self.snapshot.newest_event_at

    def supersedes(self, other: Update) -> bool:
        """Whether this snapshot is newer than ``other`` (same leaderboard).

        Versions increase per leaderboard. A lower version generated well after the held
        snapshot (``VERSION_RESET_AFTER``) means the version counter was lost (Redis data
        wiped): it wins too, so the gateway does not freeze on stale data until restarted.
        Close calls (replays, two publishers during a rebalance) go by version.
        """
        mine, theirs = self.snapshot, other.snapshot
        return (
            mine.version > theirs.version
            or mine.generated_at - theirs.generated_at > VERSION_RESET_AFTER
        )


@dataclass(frozen=True, slots=True)
class PlayerUpdate:
    """One ``player`` message, serialised and framed once for every watcher it goes to."""

    #: What a watcher is sent only when it differs from the last: the player's row and
    #: neighbours (rank and score included), not ``total``, which moves with every new
    #: player anywhere on the board.
    shown: tuple[SnapshotEntry, ...]
    message: str
    frame: bytes

    @classmethod
    def of(
        cls,
        leaderboard: str,
        player_id: str,
        rank: int | None,
        entries: list[SnapshotEntry],
        total: int,
    ) -> PlayerUpdate:
        message = player_message(leaderboard, player_id, rank, entries, total)
        return cls(shown=tuple(entries), message=message, frame=text_frame(message.encode()))


def text_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, unfragmented text frame (RFC 6455, section 5.2)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 1 << 16:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + payload


def snapshot_message(snapshot: LeaderboardSnapshot) -> str:
    body = snapshot.model_dump(mode="json", exclude={"schema_version"})
    return orjson.dumps({"type": "snapshot", "protocol": PROTOCOL_VERSION, **body}).decode()


def player_message(
    leaderboard: str,
    player_id: str,
    rank: int | None,
    entries: list[SnapshotEntry],
    total: int,
) -> str:
    """The ``player`` message: ``rank`` None (and no entries) when the player has no score."""
    row = next((entry for entry in entries if entry.rank == rank), None)
    return orjson.dumps(
        {
            "type": "player",
            "protocol": PROTOCOL_VERSION,
            "leaderboard": leaderboard,
            "player_id": player_id,
            "rank": rank,
            "score": None if row is None else row.score,
            "display_name": None if row is None else row.display_name,
            "entries": [entry.model_dump(mode="json") for entry in entries],
            "total": total,
        }
    ).decode()


def hello_message(leaderboard: str, *, has_snapshot: bool, heartbeat_seconds: float) -> str:
    return orjson.dumps(
        {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "leaderboard": leaderboard,
            "has_snapshot": has_snapshot,
            "heartbeat_seconds": heartbeat_seconds,
            "server_time": utc_now().isoformat(),
        }
    ).decode()


def heartbeat_message() -> str:
    return orjson.dumps(
        {"type": "heartbeat", "protocol": PROTOCOL_VERSION, "server_time": utc_now().isoformat()}
    ).decode()
