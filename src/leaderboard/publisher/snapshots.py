"""Reading the top N from Redis and deciding whether it is news.

``TopReader`` reads a leaderboard's top N players, their scores and display names in one
atomic script (so names and scores come from the same moment) and turns them into
snapshot entries. Ties are ranked by Redis's order for equal scores in ``ZREVRANGE``:
player ids in reverse lexicographic order, the same rule ``ZREVRANK`` uses, so a rank in a
snapshot and a rank queried from the sorted set always agree.
"""

from __future__ import annotations

from redis import Redis
from redis.commands.core import Script

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.keys import RedisKeys

TOP_SCRIPT = """
local top = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #top, 2 do
  out[#out + 1] = top[i]
  out[#out + 1] = top[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], top[i]) or ''
end
return out
"""
# KEYS: 1 the leaderboard's sorted set, 2 its display-name hash. ARGV: 1 N.
# Returns player, score, display name ('' when unknown) for each of the top N.


class TopReader:
    """Reads top-N entries and the cached snapshot of leaderboards."""

    def __init__(self, redis: Redis, keys: RedisKeys, top_n: int) -> None:
        self._redis = redis
        self._keys = keys
        self._top_n = top_n
        self._script: Script = redis.register_script(TOP_SCRIPT)

    def top(self, leaderboard: str) -> list[SnapshotEntry]:
        reply = self._script(
            keys=[self._keys.board(leaderboard), self._keys.names(leaderboard)],
            args=[self._top_n],
        )
        entries = []
        for index in range(0, len(reply), 3):
            player, score, name = reply[index : index + 3]
            entries.append(
                SnapshotEntry(
                    rank=index // 3 + 1,
                    player_id=player.decode(),
                    display_name=name.decode() or None,
                    score=int(float(score)),
                )
            )
        return entries

    def cached(self, leaderboard: str) -> LeaderboardSnapshot | None:
        """The snapshot in the Redis cache, if any (what was last published)."""
        raw = self._redis.get(self._keys.snapshot(leaderboard))
        return None if raw is None else LeaderboardSnapshot.model_validate_json(raw)

    def next_version(self, leaderboard: str) -> int:
        return int(self._redis.incr(self._keys.snapshot_version(leaderboard)))

    def cache(self, snapshot: LeaderboardSnapshot, payload: bytes) -> None:
        self._redis.set(self._keys.snapshot(snapshot.leaderboard), payload)
