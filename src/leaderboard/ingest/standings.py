"""The admin API's writes to a board's standings in Redis: a reset and the removal of one
player, over every period the board has in Redis, each one Lua script, so the ranker's
apply script runs wholly before or after it.

Key layout: ``core.keys`` and docs/architecture.md, "Redis keys".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from redis import Redis
from redis.commands.core import Script

from leaderboard.core.boards import Sort
from leaderboard.core.keys import PERIOD_SUFFIX_LUA, RedisKeys
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.standings import board_score, reach_code, reached_at

#: Lua: ``periods_of(periods_key)``, the ids of every period a board has keys of in Redis:
#: the all-time period (the unsuffixed keys, always the board's) and each member of its
#: periods set (``RedisKeys.periods``). A period's keys are built in the script from the
#: all-time key and ``period_suffix``: they share its hash tag, hence its Cluster slot.
BOARD_PERIODS_LUA: Final = (
    PERIOD_SUFFIX_LUA
    + f"""
local function periods_of(periods_key)
  local periods = redis.call('SMEMBERS', periods_key)
  table.insert(periods, 1, '{ALL_TIME}')
  return periods
end
"""
)

#: Reset codes compare as strings (same width); a later time has the lower code, so a
#: reset older than the one held changes nothing (two replicas' resets in either order).
RESET_SCRIPT = (
    BOARD_PERIODS_LUA
    + """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and held < ARGV[2] then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local removed = 0
for _, period in ipairs(periods_of(KEYS[2])) do
  local suffix = period_suffix(period)
  removed = removed + redis.call('ZCARD', KEYS[3] .. suffix)
  redis.call('DEL', KEYS[3] .. suffix, KEYS[4] .. suffix)
end
redis.call('DEL', KEYS[2], KEYS[5], KEYS[6])
return removed
"""
)
# KEYS: 1 the resets hash, 2 the board's periods set, 3 its all-time sorted set, 4 its
#       all-time reach codes, 5 its display names, 6 its cached snapshot (not the snapshot
#       version: versions must keep growing).
# ARGV: 1 the board id, 2 the reset's reach code (core.standings.reach_code).
# Returns the standings removed, summed over the periods, or -1 when a later reset is
# already held.

HAS_STANDINGS_SCRIPT = (
    BOARD_PERIODS_LUA
    + """
for _, period in ipairs(periods_of(KEYS[1])) do
  if redis.call('ZCARD', KEYS[2] .. period_suffix(period)) > 0 then
    return 1
  end
end
return 0
"""
)
# KEYS: 1 the board's periods set, 2 its all-time sorted set.
# Returns 1 when any period of the board ranks a player, else 0.

REMOVE_SCRIPT = (
    BOARD_PERIODS_LUA
    + """
local known = redis.call('SISMEMBER', KEYS[1], ARGV[1])
local removed, live = {}, false
for _, period in ipairs(periods_of(KEYS[2])) do
  local suffix = period_suffix(period)
  local score = redis.call('ZSCORE', KEYS[3] .. suffix, ARGV[2])
  redis.call('HDEL', KEYS[4] .. suffix, ARGV[2])
  if score then
    redis.call('ZREM', KEYS[3] .. suffix, ARGV[2])
    removed[#removed + 1] = period
    if period == ARGV[3] then
      live = score
    end
  end
end
redis.call('HDEL', KEYS[5], ARGV[2])
return {known, removed, live}
"""
)
# KEYS: 1 the set of boards, 2 the board's periods set, 3 its all-time sorted set, 4 its
#       all-time reach codes, 5 its display names.
# ARGV: 1 the board id, 2 the player id, 3 the id of the board's live period.
# Returns {known, the ids of the periods the player was removed from, its stored score in
# the live period (nil when it had none there)}.


@dataclass(frozen=True)
class Removal:
    """What removing a player did: ``board_known`` is whether the ranker ever ranked the
    board (it is in the set of boards); ``periods`` the periods it had a standing in;
    ``score`` and ``reached_at`` its standing in the board's live period, if any."""

    board_known: bool
    removed: bool
    score: int | None = None  # in the board's own sign
    reached_at: datetime | None = None
    periods: tuple[str, ...] = ()


def parse_removal(reply: Sequence[Any], sort: Sort) -> Removal:
    """``REMOVE_SCRIPT``'s reply, the score in the sign of a board sorted ``sort``."""
    known = bool(int(reply[0]))
    periods = tuple(period.decode() for period in reply[1])
    live = reply[2]
    return Removal(
        board_known=known,
        removed=bool(periods),
        score=None if live is None else board_score(live, sort),
        reached_at=None if live is None else reached_at(live),
        periods=periods,
    )


class Standings:
    """Blocking calls on one board's standings in every period it has in Redis (run them
    from a worker thread); each raises ``redis.exceptions.RedisError`` when Redis fails."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._reset: Script = redis.register_script(RESET_SCRIPT)
        self._has_standings: Script = redis.register_script(HAS_STANDINGS_SCRIPT)
        self._remove: Script = redis.register_script(REMOVE_SCRIPT)

    def has_standings(self, board_id: str) -> bool:
        """Whether any period of the board ranks a player."""
        keys = self.keys
        return bool(self._has_standings(keys=[keys.periods(board_id), keys.board(board_id)]))

    def reset(self, board_id: str, reset_at: datetime) -> int | None:
        """Record the reset and clear every period of the board; the standings removed
        (summed over the periods), or None when a later reset of the board is already
        recorded (it cleared the board)."""
        keys = self.keys
        removed = int(
            self._reset(
                keys=[
                    keys.resets(),
                    keys.periods(board_id),
                    keys.board(board_id),
                    keys.reached(board_id),
                    keys.names(board_id),
                    keys.snapshot(board_id),
                ],
                args=[board_id, reach_code(reset_at)],
            )
        )
        return None if removed < 0 else removed

    def remove_player(self, board_id: str, player_id: str, sort: Sort, live_period: str) -> Removal:
        """Remove the player's standings in every period and its display name from the
        board; the removal reports its standing in ``live_period``."""
        keys = self.keys
        reply = self._remove(
            keys=[
                keys.boards(),
                keys.periods(board_id),
                keys.board(board_id),
                keys.reached(board_id),
                keys.names(board_id),
            ],
            args=[board_id, player_id, live_period],
        )
        return parse_removal(reply, sort)
