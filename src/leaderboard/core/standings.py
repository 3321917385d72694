"""A leaderboard's ranked rows read from Redis in one Lua script (publisher and gateway).

Ranks follow ``ZREVRANK`` (ties by player id, reverse byte order) in snapshots and REST alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leaderboard.core.events import SnapshotEntry
from leaderboard.core.keys import RedisKeys

#: Lua appending player, score and display name ('' when unknown) of each row of ``rows``
#: (a ``ZREVRANGE ... WITHSCORES`` reply) to ``out``: the rows ``parse_rows`` reads.
APPEND_ROWS = """
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], rows[i]) or ''
end
"""

PAGE_SCRIPT = (
    """
local total = redis.call('ZCARD', KEYS[1])
local out = {total}
if total == 0 then return out end
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
"""
    + APPEND_ROWS
    + "return out\n"
)
# KEYS: script_keys(). ARGV: page_args(), the first and last index (0-based, inclusive).
# Returns {total, player, score, name, player, score, name, ...}.


@dataclass(frozen=True)
class Page:
    """Rows of one leaderboard; ``total`` is 0 when the leaderboard does not exist."""

    total: int
    entries: list[SnapshotEntry]


def script_keys(keys: RedisKeys, leaderboard: str) -> list[str]:
    """The KEYS of the scripts: the leaderboard's sorted set and its display-name hash."""
    return [keys.board(leaderboard), keys.names(leaderboard)]


def page_args(offset: int, limit: int) -> list[int]:
    """The ARGV of ``PAGE_SCRIPT`` for ``limit`` rows from the 0-based ``offset``."""
    return [offset, offset + limit - 1]


def parse_page(reply: Sequence[Any], offset: int) -> Page:
    """``PAGE_SCRIPT``'s reply for the page starting at ``offset``."""
    return Page(total=int(reply[0]), entries=parse_rows(reply[1:], offset + 1))


def parse_rows(rows: Sequence[bytes], first_rank: int) -> list[SnapshotEntry]:
    """The rows ``APPEND_ROWS`` wrote, ranked from ``first_rank`` (1-based) on."""
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
