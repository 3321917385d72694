"""The Redis key layout shared by the ranker, the publisher and the gateway.

Every key carries one hash tag: one Redis Cluster slot (docs/architecture.md, "Redis keys").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from leaderboard.core.periods import ALL_TIME

#: Lua: the suffix of a period's keys (``RedisKeys.board``), for scripts that build the
#: keys of every period a board has in Redis (``RedisKeys.periods``).
PERIOD_SUFFIX_LUA: Final = f"""
local function period_suffix(period)
  if period == '{ALL_TIME}' then return '' end
  return ':' .. period
end
"""


def period_suffix(period: str) -> str:
    """What a period adds to a board's keys: nothing for the all-time period, so a board
    keeps its keys when it has no schedule."""
    return "" if period == ALL_TIME else f":{period}"


@dataclass(frozen=True)
class RedisKeys:
    """Builds the project's Redis keys for one key prefix."""

    prefix: str = "lb"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def board(self, leaderboard: str, period: str = ALL_TIME) -> str:
        """The sorted set of standings of one period: player id ->
        ``core.standings.stored_score()``."""
        return f"{self.tag}:standings:{leaderboard}{period_suffix(period)}"

    def reached(self, leaderboard: str, period: str = ALL_TIME) -> str:
        """Hash, on ``latest`` boards only: player id -> exact reach code of its value
        (``core.standings.reach_code``), which the stored score holds only approximately."""
        return f"{self.tag}:reached:{leaderboard}{period_suffix(period)}"

    def periods(self, leaderboard: str) -> str:
        """Set: the ids of a board's periods that have keys of their own in Redis (never
        ``all``: the all-time keys have no suffix and are always the board's)."""
        return f"{self.tag}:periods:{leaderboard}"

    def closed(self) -> str:
        """Set: ``<board>/<period>`` of every closed period (the ranker refuses its events)."""
        return f"{self.tag}:closed"

    def closed_complete(self) -> str:
        """String: present while ``closed()`` holds every period stored as closed (the
        closer sets it after restoring the set; it goes when Redis loses its data)."""
        return f"{self.tag}:closed-complete"

    def closing(self, leaderboard: str, period: str) -> str:
        """Sorted set: a closing period's standings as frozen, copied from ``board()``
        when the closer froze the period, read while it stores them."""
        return f"{self.tag}:closing:{leaderboard}:{period}"

    def closing_reached(self, leaderboard: str, period: str) -> str:
        """Hash: the reach codes frozen with ``closing()`` (``latest`` boards)."""
        return f"{self.tag}:closing-reached:{leaderboard}:{period}"

    def names(self, leaderboard: str) -> str:
        return f"{self.tag}:names:{leaderboard}"

    def resets(self) -> str:
        """Hash: board id -> reach code (``core.standings``) of its last reset."""
        return f"{self.tag}:resets"

    def erased(self) -> str:
        """Set: ``core.erasures.redis_erasure_key`` of every erased player."""
        return f"{self.tag}:erased"

    def boards(self) -> str:
        return f"{self.tag}:boards"

    def offsets(self, group: str, topic: str) -> str:
        return f"{self.tag}:offsets:{group}:{topic}"

    def seen(self, bucket: int) -> str:
        return f"{self.tag}:seen:{bucket}"

    def snapshot(self, leaderboard: str) -> str:
        return f"{self.tag}:snapshot:{leaderboard}"

    def snapshot_version(self, leaderboard: str) -> str:
        return f"{self.tag}:snapshot-version:{leaderboard}"
