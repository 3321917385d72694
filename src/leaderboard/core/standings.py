"""A leaderboard's standings in Redis: how a member encodes a player and the time it reached
its score, and the Lua page script the publisher and the gateway share to read ranked rows.

Layout and tie rule: docs/architecture.md, "Redis keys" and "Ties".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from leaderboard.core.boards import Sort
from leaderboard.core.events import SnapshotEntry
from leaderboard.core.keys import RedisKeys

#: A member is ``REACH_DIGITS`` digits of (``REACH_BASE`` - microseconds since the epoch
#: at which the player reached its score) followed by the player id. Redis orders equal
#: scores by member, so ``ZREVRANGE`` puts the earliest reach first. Lua only compares the
#: prefixes, as strings of equal length, never computes with them.
REACH_DIGITS: Final = 16
REACH_BASE: Final = 10**REACH_DIGITS - 1
REACH_LAST: Final = REACH_BASE - 10 ** (REACH_DIGITS - 1)  # keeps 16 digits: the year 2255
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def reach_prefix(reached_at: datetime) -> str:
    """The member prefix of a score reached at ``reached_at`` (clamped to [1970, 2255])."""
    micros = (reached_at - _EPOCH) // _MICROSECOND
    if not 0 <= micros <= REACH_LAST:  # per event in the ranker: the usual case is one test
        micros = min(max(micros, 0), REACH_LAST)
    return str(REACH_BASE - micros)


def reached_at(member: bytes | str) -> datetime:
    """When the player of ``member`` reached its score."""
    return _EPOCH + (REACH_BASE - int(member[:REACH_DIGITS])) * _MICROSECOND


def member(player_id: str, reached: datetime) -> str:
    return reach_prefix(reached) + player_id


def player_of(member: bytes) -> str:
    return member[REACH_DIGITS:].decode()


def sort_sign(sort: Sort) -> int:
    """A sorted set always ranks the highest score first: ``asc`` boards store the negated
    score, so one read path (``ZREVRANGE``, ``ZREVRANK``) serves both orders."""
    return -1 if sort == "asc" else 1


#: Lua appending member, score and display name ('' when unknown) of each row of ``rows``
#: (a ``ZREVRANGE ... WITHSCORES`` reply) to ``out``: the rows ``parse_rows`` reads.
APPEND_ROWS = """
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], string.sub(rows[i], 17)) or ''
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
# Returns {total, member, score, name, member, score, name, ...}.


@dataclass(frozen=True)
class Page:
    """Rows of one leaderboard; ``total`` is 0 when the leaderboard does not exist."""

    total: int
    entries: list[SnapshotEntry]


def script_keys(keys: RedisKeys, leaderboard: str) -> list[str]:
    """The KEYS of the read scripts: the board's sorted set, display names and members."""
    return [keys.board(leaderboard), keys.names(leaderboard), keys.members(leaderboard)]


def page_args(offset: int, limit: int) -> list[int]:
    """The ARGV of ``PAGE_SCRIPT`` for ``limit`` rows from the 0-based ``offset``."""
    return [offset, offset + limit - 1]


def parse_page(reply: Sequence[Any], offset: int, sort: Sort = "desc") -> Page:
    """``PAGE_SCRIPT``'s reply for the page starting at ``offset``."""
    return Page(total=int(reply[0]), entries=parse_rows(reply[1:], offset + 1, sort))


def parse_rows(rows: Sequence[bytes], first_rank: int, sort: Sort = "desc") -> list[SnapshotEntry]:
    """The rows ``APPEND_ROWS`` wrote, ranked from ``first_rank`` (1-based) on; scores in
    the board's own sign."""
    sign = sort_sign(sort)
    return [
        parse_entry(first_rank + index // 3, *rows[index : index + 3], sign=sign)
        for index in range(0, len(rows), 3)
    ]


def parse_entry(rank: int, stored: bytes, score: bytes, name: bytes, *, sign: int) -> SnapshotEntry:
    """One row from its member, stored score and display name ('' when unknown); ``sign``:
    ``sort_sign()`` of the board."""
    return SnapshotEntry(
        rank=rank,
        player_id=player_of(stored),
        display_name=name.decode() or None,
        score=sign * int(float(score)),
    )
