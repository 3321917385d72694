"""The publisher's Redis reads and writes: the top N of a leaderboard's period and the
snapshot cache.

The top N comes from the shared page script, so it ranks as the REST API does, in each
board's own order and number of rows.
"""

from __future__ import annotations

from redis import Redis
from redis.commands.core import Script

from leaderboard.core.boards import BoardView
from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.standings import PAGE_SCRIPT, page_args, parse_page, script_keys


class TopReader:
    """Reads top-N entries and the cached snapshot of leaderboards."""

    def __init__(self, redis: Redis, keys: RedisKeys, top_n: int) -> None:
        """``top_n``: the rows of a board whose view sets none."""
        self._redis = redis
        self._keys = keys
        self._top_n = top_n
        self._script: Script = redis.register_script(PAGE_SCRIPT)

    def top(self, leaderboard: str, view: BoardView, period: str = ALL_TIME) -> list[SnapshotEntry]:
        """The top N of the board's ``period`` (empty when it has no scores)."""
        top_n = self._top_n if view.top_n is None else view.top_n
        reply = self._script(
            keys=script_keys(self._keys, leaderboard, period), args=page_args(0, top_n)
        )
        return parse_page(reply, 0, view.sort).entries

    def cached(self, leaderboard: str) -> LeaderboardSnapshot | None:
        """The snapshot in the Redis cache, if any (what was last published)."""
        raw = self._redis.get(self._keys.snapshot(leaderboard))
        return None if raw is None else LeaderboardSnapshot.model_validate_json(raw)

    def next_version(self, leaderboard: str) -> int:
        return int(self._redis.incr(self._keys.snapshot_version(leaderboard)))

    def cache(self, snapshot: LeaderboardSnapshot, payload: bytes) -> None:
        self._redis.set(self._keys.snapshot(snapshot.leaderboard), payload)
