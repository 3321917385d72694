"""A leaderboard's standings in Redis: how a stored score encodes a player's score and the
time it reached it, and the Lua page script the publisher and the gateway share.

Layout and tie rule: docs/architecture.md, "Redis keys" and "Ties".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Final

from pydantic_core import TzInfo

from leaderboard.core.boards import Sort
from leaderboard.core.events import SnapshotEntry
from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import ALL_TIME

#: A stored score is the board's integer score (negated on an ``asc`` board) plus a
#: fraction in [0, 1) that is higher for an earlier reach: ``REACH_LAST`` - microseconds
#: since the epoch, in 53 bits, keeping as many of its high bits as the integer part leaves
#: free in a double. Redis then ranks equal scores by reach with one sorted-set score.
REACH_BITS: Final = 53
REACH_LAST: Final = 2**REACH_BITS - 1
#: The latest reach time kept (the year 2223): codes up to it have 16 digits without padding.
_LATEST_MICROS: Final = REACH_LAST - 10**15
_REACH_SPAN: Final = float(2**REACH_BITS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

#: Lua of ``stored_score``: ``stored(score, reach)`` with ``reach`` a number (the value
#: of a ``reach_code``). Every step is exact in doubles: the fraction keeps only the bits
#: below the score's that a double holds (``math.frexp`` gives the score's bit length).
STORED_SCORE_LUA = """
local TWO_53 = 9007199254740992
local function stored(score, reach)
  local _, bits = math.frexp(math.abs(score))
  local quantum = math.ldexp(1, bits)
  return score + math.floor(reach / quantum) * quantum / TWO_53
end
"""


def reach_code(reached_at: datetime) -> str:
    """The reach of a score reached at ``reached_at`` (clamped to [1970, 2223]): 16
    digits, higher for an earlier time, so codes compare as strings and as numbers."""
    micros = epoch_micros(reached_at)
    if not 0 <= micros <= _LATEST_MICROS:  # per event in the ranker: usually one test
        micros = min(max(micros, 0), _LATEST_MICROS)
    return str(REACH_LAST - micros)  # str(): twice as fast as a zero-padded format


def reach_time(code: bytes | str) -> datetime:
    """The time a ``reach_code`` stands for (exact, unlike ``reached_at``)."""
    return _EPOCH + (REACH_LAST - int(code)) * _MICROSECOND


def epoch_micros(moment: datetime) -> int:
    """Microseconds from 1970 to the aware ``moment`` (cheap for fixed-offset zones)."""
    return (moment - _epoch_in(moment.tzinfo)) // _MICROSECOND


#: The epoch in each fixed-offset time zone seen: datetimes of one time zone object
#: subtract without calling its ``utcoffset()``, which costs pydantic's ``TzInfo`` (the
#: decoded events') more than the rest of ``reach_code``.
_EPOCHS: dict[tzinfo, datetime] = {}
_FIXED_OFFSETS = (timezone, TzInfo)
_MAX_EPOCHS = 64


def _epoch_in(zone: tzinfo | None) -> datetime:
    epoch = _EPOCHS.get(zone) if zone is not None else None
    if epoch is not None:
        return epoch
    if isinstance(zone, _FIXED_OFFSETS) and len(_EPOCHS) < _MAX_EPOCHS:
        epoch = _EPOCHS[zone] = _EPOCH.astimezone(zone)
        return epoch
    return _EPOCH  # a zone with daylight saving: the subtraction asks it for each time


def stored_score(score: int, reached: datetime, sort: Sort = "desc") -> float:
    """The sorted-set score of ``score`` reached at ``reached``, as the apply script
    stores it (``STORED_SCORE_LUA``)."""
    signed = sort_sign(sort) * score
    quantum = 1 << abs(signed).bit_length()
    return signed + (int(reach_code(reached)) // quantum) * quantum / _REACH_SPAN


def board_score(stored: float | bytes, sort: Sort = "desc") -> int:
    """The board's integer score of a stored score (in the board's own sign)."""
    return sort_sign(sort) * math.floor(float(stored))


def reached_at(stored: float | bytes) -> datetime:
    """When the score was reached, as precisely as the stored score holds it: the earliest
    time its fraction stands for (docs/architecture.md, "Ties")."""
    value = float(stored)
    score = math.floor(value)
    reach = int((value - score) * _REACH_SPAN) + (1 << abs(score).bit_length()) - 1
    return _EPOCH + max(REACH_LAST - reach, 0) * _MICROSECOND


def sort_sign(sort: Sort) -> int:
    """A sorted set always ranks the highest score first: ``asc`` boards store the negated
    score, so one read path (``ZREVRANGE``, ``ZREVRANK``) serves both orders."""
    return -1 if sort == "asc" else 1


#: Lua appending player id, stored score and display name ('' when unknown) of each row of
#: ``rows`` (a ``ZREVRANGE ... WITHSCORES`` reply) to ``out``: the rows ``parse_rows`` reads.
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


def script_keys(keys: RedisKeys, leaderboard: str, period: str = ALL_TIME) -> list[str]:
    """The KEYS of the read scripts: the sorted set of the board's ``period`` and the
    board's display names (one hash for all its periods)."""
    return [keys.board(leaderboard, period), keys.names(leaderboard)]


def page_args(offset: int, limit: int) -> list[int]:
    """The ARGV of ``PAGE_SCRIPT`` for ``limit`` rows from the 0-based ``offset``."""
    return [offset, offset + limit - 1]


def parse_page(reply: Sequence[Any], offset: int, sort: Sort = "desc") -> Page:
    """``PAGE_SCRIPT``'s reply for the page starting at ``offset``."""
    return Page(total=int(reply[0]), entries=parse_rows(reply[1:], offset + 1, sort))


def parse_rows(rows: Sequence[bytes], first_rank: int, sort: Sort = "desc") -> list[SnapshotEntry]:
    """The rows ``APPEND_ROWS`` wrote, ranked from ``first_rank`` (1-based) on; scores in
    the board's own sign."""
    return [
        parse_entry(first_rank + index // 3, *rows[index : index + 3], sort=sort)
        for index in range(0, len(rows), 3)
    ]


def parse_entry(
    rank: int, player: bytes, stored: bytes, name: bytes, *, sort: Sort
) -> SnapshotEntry:
    """One row from its player id, stored score and display name ('' when unknown)."""
    return SnapshotEntry(
        rank=rank,
        player_id=player.decode(),
        display_name=name.decode() or None,
        score=board_score(stored, sort),
    )
