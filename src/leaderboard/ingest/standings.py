"""The admin API's writes to a board's standings in Redis: a reset and the removal of one
player, each one Lua script, so the ranker's apply script runs wholly before or after it.

Key layout: ``core.keys`` and docs/architecture.md, "Redis keys".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from redis.commands.core import Script

from leaderboard.core.boards import Sort
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import board_score, reach_code, reached_at

#: Reset codes compare as strings (same width); a later time has the lower code, so a
#: reset older than the one held changes nothing (two replicas' resets in either order).
RESET_SCRIPT = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held < ARGV[2] then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local removed = redis.call('ZCARD', KEYS[2])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return removed
"""
# KEYS: 1 the resets hash, 2 the board's sorted set, 3 its reach codes, 4 its display
#       names, 5 its cached snapshot (not the snapshot version: versions must keep growing).
# ARGV: 1 the board id, 2 the reset's reach code (core.standings.reach_code).
# Returns the number of players removed, or -1 when a later reset is already held.

REMOVE_SCRIPT = """
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
if not score then
  return {known}
end
redis.call('ZREM', KEYS[2], ARGV[2])
return {known, score}
"""
# KEYS: 1 the set of boards, 2 the board's sorted set, 3 its reach codes, 4 its display
#       names. ARGV: 1 the board id, 2 the player id.
# Returns {known} when the player had no standing, else {known, stored score}.


@dataclass(frozen=True)
class Removal:
    """What removing a player did: ``board_known`` is whether the ranker ever ranked the
    board (it is in the set of boards)."""

    board_known: bool
    removed: bool
    score: int | None = None  # in the board's own sign
    reached_at: datetime | None = None


def parse_removal(reply: Sequence[Any], sort: Sort) -> Removal:
    """``REMOVE_SCRIPT``'s reply, the score in the sign of a board sorted ``sort``."""
    known = bool(int(reply[0]))
    if len(reply) == 1:
        return Removal(board_known=known, removed=False)
    return Removal(
        board_known=known,
        removed=True,
        score=board_score(reply[1], sort),
        reached_at=reached_at(reply[1]),
    )


class Standings:
    """Blocking calls on one board's standings (run them from a worker thread); each
    raises ``redis.exceptions.RedisError`` when Redis fails."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._reset: Script = redis.register_script(RESET_SCRIPT)
        self._remove: Script = redis.register_script(REMOVE_SCRIPT)

    def count(self, board_id: str) -> int:
        """How many players the board ranks."""
        return int(self.redis.zcard(self.keys.board(board_id)))

    def reset(self, board_id: str, reset_at: datetime) -> int | None:
        """Record the reset and clear the board; the number of players removed, or None
        when a later reset of the board is already recorded (it cleared the board)."""
        keys = self.keys
        removed = int(
            self._reset(
                keys=[
                    keys.resets(),
                    keys.board(board_id),
                    keys.reached(board_id),
                    keys.names(board_id),
                    keys.snapshot(board_id),
                ],
                args=[board_id, reach_code(reset_at)],
            )
        )
        return None if removed < 0 else removed

    def remove_player(self, board_id: str, player_id: str, sort: Sort) -> Removal:
        """Remove the player's standing and display name from the board."""
        keys = self.keys
        reply = self._remove(
            keys=[
                keys.boards(),
                keys.board(board_id),
                keys.reached(board_id),
                keys.names(board_id),
            ],
            args=[board_id, player_id],
        )
        return parse_removal(reply, sort)
