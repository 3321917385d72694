"""Reads from Redis (``redis.asyncio``): rankings for the REST API and the watched players'
neighbourhoods, and the snapshot cache.

Each ranking read is one Lua script, so the total, a rank and the rows are consistent; every
read takes the board's sort, whose sign ``asc`` boards store their scores with, and the
period whose standings it reads (``all`` for a board that never resets).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from leaderboard.core.boards import Sort
from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.standings import (
    APPEND_ROWS,
    PAGE_SCRIPT,
    Page,
    page_args,
    parse_entry,
    parse_page,
    parse_rows,
    script_keys,
)

AROUND_SCRIPT = (
    """
local total = redis.call('ZCARD', KEYS[1])
if total == 0 then return {0} end
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not rank then return {total, -1} end
local first = rank - tonumber(ARGV[2])
if first < 0 then first = 0 end
local rows = redis.call('ZREVRANGE', KEYS[1], first, rank + tonumber(ARGV[2]), 'WITHSCORES')
local out = {total, rank, first}
"""
    + APPEND_ROWS
    + "return out\n"
)
# KEYS: script_keys(). ARGV: 1 player id, 2 radius. Returns {0} for an unknown leaderboard,
# {total, -1} for an unknown player, else {total, rank (0-based), first index, rows...}.

NEIGHBOURHOODS_SCRIPT = (
    """
local total = redis.call('ZCARD', KEYS[1])
local out = {total}
if total == 0 then return out end
for p = 1, #ARGV, 2 do
  local rank = redis.call('ZREVRANK', KEYS[1], ARGV[p])
  if rank then
    local radius = tonumber(ARGV[p + 1])
    local first = rank - radius
    if first < 0 then first = 0 end
    local rows = redis.call('ZREVRANGE', KEYS[1], first, rank + radius, 'WITHSCORES')
    out[#out + 1] = rank
    out[#out + 1] = first
    out[#out + 1] = #rows / 2
"""
    + APPEND_ROWS
    + """
  else
    out[#out + 1] = -1
  end
end
return out
"""
)
# KEYS: script_keys(). ARGV: player id, radius, player id, radius, ... Returns {0} for an
# unknown leaderboard, else {total} then per player either -1 (not on it) or
# {rank (0-based), first index, row count, rows...}: AROUND_SCRIPT for many players at once.

PLAYERS_SCRIPT = """
local total = redis.call('ZCARD', KEYS[1])
if total == 0 then return {0} end
local scores = redis.call('ZMSCORE', KEYS[1], unpack(ARGV))
local out = {total}
for i = 1, #ARGV do
  if scores[i] then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = scores[i]
    out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or ''
    out[#out + 1] = redis.call('ZREVRANK', KEYS[1], ARGV[i])
  end
end
return out
"""
# KEYS: script_keys(). ARGV: player ids. Returns {0} for an unknown leaderboard, else
# {total, player, score, name, rank (0-based), ...} for each player that has a score.

#: Snapshot cache keys read per MGET at start.
CACHE_CHUNK = 500
#: Players read per NEIGHBOURHOODS_SCRIPT call: bounds how long one call holds Redis
#: (about 11 rows each at the default radius).
NEIGHBOURHOOD_CHUNK = 100


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

    def within(self, radius: int) -> Neighbourhood:
        """The same neighbourhood with at most ``radius`` rows on each side."""
        rank = self.rank
        if rank is None:
            return self
        entries = [entry for entry in self.entries if abs(entry.rank - rank) <= radius]
        return Neighbourhood(total=self.total, rank=rank, entries=entries)


class Rankings:
    """The gateway's Redis reads for one key prefix.

    redis-py types replies as ``bytes | str``; the client is built without
    ``decode_responses``, so the casts below state that replies are bytes.
    """

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._page: AsyncScript = redis.register_script(PAGE_SCRIPT)
        self._around: AsyncScript = redis.register_script(AROUND_SCRIPT)
        self._players: AsyncScript = redis.register_script(PLAYERS_SCRIPT)
        self._neighbourhoods: AsyncScript = redis.register_script(NEIGHBOURHOODS_SCRIPT)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def _board_ids(self) -> list[str]:
        members = cast(set[bytes], await self._redis.smembers(self._keys.boards()))
        return sorted(member.decode() for member in members)

    async def leaderboards(self, period_of: Callable[[str], str]) -> list[tuple[str, int]]:
        """Every known leaderboard with its number of players in its period
        ``period_of(board)``, sorted by id."""
        boards = await self._board_ids()
        if not boards:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for board in boards:
                pipe.zcard(self._keys.board(board, period_of(board)))
            counts = await pipe.execute()
        return [(board, int(count)) for board, count in zip(boards, counts, strict=True)]

    async def period_sizes(self, leaderboard: str, live: str) -> dict[str, int]:
        """Players in each period of the board that has keys in Redis (its periods set)
        and in its live period ``live``, which may have none."""
        members = cast(set[bytes], await self._redis.smembers(self._keys.periods(leaderboard)))
        periods = sorted({member.decode() for member in members} | {live})
        async with self._redis.pipeline(transaction=False) as pipe:
            for period in periods:
                pipe.zcard(self._keys.board(leaderboard, period))
            counts = await pipe.execute()
        return {period: int(count) for period, count in zip(periods, counts, strict=True)}

    async def has_period(self, leaderboard: str, period: str) -> bool:
        """Whether ``period`` of the board has keys in Redis (is in its periods set)."""
        return bool(await self._redis.sismember(self._keys.periods(leaderboard), period))

    async def page(
        self, leaderboard: str, offset: int, limit: int, sort: Sort, period: str = ALL_TIME
    ) -> Page:
        reply = await self._page(
            keys=script_keys(self._keys, leaderboard, period), args=page_args(offset, limit)
        )
        return parse_page(reply, offset, sort)

    async def around(
        self, leaderboard: str, player_id: str, radius: int, sort: Sort, period: str = ALL_TIME
    ) -> Neighbourhood:
        reply = await self._around(
            keys=script_keys(self._keys, leaderboard, period), args=[player_id, radius]
        )
        total = int(reply[0])
        if total == 0:
            return Neighbourhood(total=0, rank=None, entries=[])
        if int(reply[1]) < 0:
            return Neighbourhood(total=total, rank=None, entries=[])
        rank, first = int(reply[1]) + 1, int(reply[2]) + 1
        return Neighbourhood(total=total, rank=rank, entries=parse_rows(reply[3:], first, sort))

    async def neighbourhoods(
        self, leaderboard: str, radii: dict[str, int], sort: Sort, period: str = ALL_TIME
    ) -> dict[str, Neighbourhood]:
        """The neighbourhood of each player of ``radii`` (player id -> radius), read in one
        script per ``NEIGHBOURHOOD_CHUNK`` players: each one consistent in itself."""
        found: dict[str, Neighbourhood] = {}
        players = list(radii)
        keys = script_keys(self._keys, leaderboard, period)
        for start in range(0, len(players), NEIGHBOURHOOD_CHUNK):
            chunk = players[start : start + NEIGHBOURHOOD_CHUNK]
            args: list[str | int] = []
            for player in chunk:
                args += [player, radii[player]]
            reply = await self._neighbourhoods(keys=keys, args=args)
            found |= parse_neighbourhoods(reply, chunk, sort)
        return found

    async def players(
        self, leaderboard: str, player_ids: list[str], sort: Sort, period: str = ALL_TIME
    ) -> Page:
        """The rows of those of ``player_ids`` that have a score, by rank (``total`` is 0
        when the leaderboard, or its period, has no scores)."""
        reply = await self._players(
            keys=script_keys(self._keys, leaderboard, period), args=player_ids
        )
        entries = [
            parse_entry(int(rank) + 1, player, score, name, sort=sort)
            for player, score, name, rank in (
                reply[index : index + 4] for index in range(1, len(reply), 4)
            )
        ]
        return Page(total=int(reply[0]), entries=sorted(entries, key=lambda e: e.rank))

    async def cached_snapshot(self, leaderboard: str) -> bytes | None:
        """The raw snapshot in the publisher's cache, if any."""
        return cast(bytes | None, await self._redis.get(self._keys.snapshot(leaderboard)))

    async def cached_snapshots(self) -> list[bytes]:
        """The raw cached snapshots of every known leaderboard."""
        boards = await self._board_ids()
        found: list[bytes] = []
        for start in range(0, len(boards), CACHE_CHUNK):
            chunk = boards[start : start + CACHE_CHUNK]
            keys = [self._keys.snapshot(board) for board in chunk]
            values = cast(list[bytes | None], await self._redis.mget(keys))
            found.extend(value for value in values if value is not None)
        return found


def parse_neighbourhoods(
    reply: Sequence[Any], players: list[str], sort: Sort
) -> dict[str, Neighbourhood]:
    """``NEIGHBOURHOODS_SCRIPT``'s reply for ``players`` (in the order asked)."""
    total = int(reply[0])
    if total == 0:
        return {player: Neighbourhood(total=0, rank=None, entries=[]) for player in players}
    found: dict[str, Neighbourhood] = {}
    index = 1
    for player in players:
        rank = int(reply[index])
        if rank < 0:
            found[player] = Neighbourhood(total=total, rank=None, entries=[])
            index += 1
            continue
        first, count = int(reply[index + 1]), int(reply[index + 2])
        rows = reply[index + 3 : index + 3 + 3 * count]
        found[player] = Neighbourhood(
            total=total, rank=rank + 1, entries=parse_rows(rows, first + 1, sort)
        )
        index += 3 + 3 * count
    return found


def parse_cached(raw: bytes) -> LeaderboardSnapshot:
    """A cached snapshot (raises pydantic's ValidationError when it is not one)."""
    return LeaderboardSnapshot.model_validate_json(raw)
