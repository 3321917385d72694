"""Standings written straight into Redis in the ranker's layout (``core.standings``), for
tests of what reads or changes them without running a ranker."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from redis import Redis

from leaderboard.core.boards import Sort
from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.standings import reach_code, stored_score


def seed_standings(
    redis: Redis,
    keys: RedisKeys,
    board: str,
    standings: Mapping[str, tuple[int, datetime]],
    sort: Sort = "desc",
    names: Mapping[str, str] | None = None,
    period: str = ALL_TIME,
) -> None:
    """Give each player of ``standings`` its (score, reached at) in ``board``'s ``period``,
    with its exact reach code (what a ``latest`` board keeps), display name (from
    ``names``), the board in the set of boards and a period in the board's periods."""
    with redis.pipeline(transaction=True) as pipe:
        for player, (score, reached) in standings.items():
            pipe.zadd(keys.board(board, period), {player: stored_score(score, reached, sort)})
            pipe.hset(keys.reached(board, period), player, reach_code(reached))
        if period != ALL_TIME:
            pipe.sadd(keys.periods(board), period)
        if names:
            pipe.hset(keys.names(board), mapping=dict(names))
        pipe.sadd(keys.boards(), board)
        pipe.execute()
