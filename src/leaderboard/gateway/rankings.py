"""Reads from Redis (``redis.asyncio``): rankings for the REST API and the snapshot cache.

Every ranking read is one Lua script, so the total, a player's rank and the rows around
it come from the same instant even while the ranker applies scores. The keys of one
leaderboard share the project's hash tag, so the scripts also run on Redis Cluster.

Ranks follow Redis's sorted-set order, the same as the snapshots': higher score first;
equal scores are ordered by player id in reverse byte-wise lexicographic order (what
``ZREVRANGE`` and ``ZREVRANK`` do), and every player has a distinct rank 1..N.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.keys import RedisKeys

PAGE_SCRIPT = """
local total = redis.call('ZCARD', KEYS[1])
local out = {total}
if total == 0 then return out end
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], rows[i]) or ''
end
return out
"""
# KEYS: 1 the sorted set, 2 the display-name hash. ARGV: 1 first index, 2 last index
# (0-based, inclusive). Returns {total, player, score, name, player, score, name, ...}.

AROUND_SCRIPT = """
local total = redis.call('ZCARD', KEYS[1])
if total == 0 then return {0} end
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return {total, -1} end
local first = rank - tonumber(ARGV[2])
if first < 0 then first = 0 end
local rows = redis.call('ZREVRANGE', KEYS[1], first, rank + tonumber(ARGV[2]), 'WITHSCORES')
local out = {total, rank, first}
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], rows[i]) or ''
end
return out
"""
# KEYS as above. ARGV: 1 player id, 2 radius. Returns {0} for an unknown leaderboard,
# {total, -1} for an unknown player, else {total, rank (0-based), first index, rows...}.

#: Snapshot cache keys read per MGET at start.
CACHE_CHUNK = 500


@dataclass(frozen=True)
class Page:
    """Rows of one leaderboard; ``total`` is 0 when the leaderboard does not exist."""

    total: int
    entries: list[SnapshotEntry]


@dataclass(frozen=True)
class Neighbourhood:
    """A player's row and the rows around it.

    ``total`` is 0 when the leaderboard does not exist; ``rank`` is None when the player
    is not on it; otherwise ``entries`` holds the player and up to ``radius`` rows on
    each side (fewer at the top and bottom).
    """

    total: int
    rank: int | None
    entries: list[SnapshotEntry]

    @property
    def player(self) -> SnapshotEntry | None:
        return next((entry for entry in self.entries if entry.rank == self.rank), None)


def _entries(rows: list[bytes], first_rank: int) -> list[SnapshotEntry]:
    entries = []
    for index in range(0, len(rows), 3):
        player, score, name = rows[index : index + 3]
        entries.append(
            SnapshotEntry(
                rank=first_rank + index // 3,
                player_id=player.decode(),
                display_name=name.decode() or None,
                score=int(float(score)),
            )
        )
    return entries


class Rankings:
    """The gateway's Redis reads for one key prefix."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._page: AsyncScript = redis.register_script(PAGE_SCRIPT)
        self._around: AsyncScript = redis.register_script(AROUND_SCRIPT)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def _board_ids(self) -> list[str]:
        return sorted(member.decode() for member in await self._redis.smembers(self._keys.boards()))

    async def leaderboards(self) -> list[tuple[str, int]]:
        """Every known leaderboard with its number of players, sorted by id."""
        boards = await self._board_ids()
        if not boards:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for board in boards:
                pipe.zcard(self._keys.board(board))
            counts = await pipe.execute()
        return [(board, int(count)) for board, count in zip(boards, counts, strict=True)]

    async def page(self, leaderboard: str, offset: int, limit: int) -> Page:
        reply = await self._page(
            keys=[self._keys.board(leaderboard), self._keys.names(leaderboard)],
            args=[offset, offset + limit - 1],
        )
        return Page(total=int(reply[0]), entries=_entries(reply[1:], offset + 1))

    async def around(self, leaderboard: str, player_id: str, radius: int) -> Neighbourhood:
        reply = await self._around(
            keys=[self._keys.board(leaderboard), self._keys.names(leaderboard)],
            args=[player_id, radius],
        )
        total = int(reply[0])
        if total == 0:
            return Neighbourhood(total=0, rank=None, entries=[])
        if int(reply[1]) < 0:
            return Neighbourhood(total=total, rank=None, entries=[])
        rank, first = int(reply[1]) + 1, int(reply[2]) + 1
        return Neighbourhood(total=total, rank=rank, entries=_entries(reply[3:], first))

    async def cached_snapshot(self, leaderboard: str) -> bytes | None:
        """The raw snapshot in the publisher's cache, if any."""
        return await self._redis.get(self._keys.snapshot(leaderboard))

    async def cached_snapshots(self) -> list[bytes]:
        """The raw cached snapshots of every known leaderboard."""
        boards = await self._board_ids()
        found: list[bytes] = []
        for start in range(0, len(boards), CACHE_CHUNK):
            chunk = boards[start : start + CACHE_CHUNK]
            values = await self._redis.mget([self._keys.snapshot(board) for board in chunk])
            found.extend(value for value in values if value is not None)
        return found


def parse_cached(raw: bytes) -> LeaderboardSnapshot:
    """A cached snapshot (raises pydantic's ValidationError when it is not one)."""
    return LeaderboardSnapshot.model_validate_json(raw)
