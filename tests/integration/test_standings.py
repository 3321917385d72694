"""The shared page script on the stack's Redis: the publisher's top N and the gateway's
pages rank alike, in the order ``ZREVRANK`` gives: equal scores by who reached them first,
an ``asc`` board lowest first, each in its own sign."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from leaderboard.core.boards import BoardView, Sort
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import Page
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.gateway.rankings import Rankings
from leaderboard.publisher.snapshots import TopReader
from tests.support.standings import seed_standings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BOARD = "standings"
#: Ties at 50, reached in the order c, then b and d at the same microsecond (then by
#: player id in reverse order: d before b).
SCORES = {
    "p-a": (100, T0 + timedelta(seconds=9)),
    "p-b": (50, T0 + timedelta(seconds=2)),
    "p-c": (50, T0 + timedelta(seconds=1)),
    "p-d": (50, T0 + timedelta(seconds=2)),
    "p-e": (10, T0),
}
RANKED = ["p-a", "p-c", "p-d", "p-b", "p-e"]
NAMES = {"p-a": "Ann", "p-d": "Dee"}
#: A time trial: the lowest time first; a tie goes to who set it first.
LAPS_BOARD = "laps"
LAPS = {
    "ann": (83_456, T0 + timedelta(seconds=5)),
    "bob": (90_001, T0),
    "cy": (83_456, T0 + timedelta(seconds=3)),
}
LAPS_RANKED = ["cy", "ann", "bob"]


@pytest.fixture
def keys(redis: Redis) -> Iterator[RedisKeys]:
    """A key prefix of this test's own holding ``SCORES`` and ``NAMES`` on ``BOARD`` and
    ``LAPS`` on the ``asc`` board ``LAPS_BOARD``."""
    keys = RedisKeys(f"t{uuid.uuid4().hex[:10]}")
    seed_standings(redis, keys, BOARD, SCORES)
    redis.hset(keys.names(BOARD), mapping=NAMES)
    seed_standings(redis, keys, LAPS_BOARD, LAPS, sort="asc")
    yield keys
    for board in (BOARD, LAPS_BOARD):
        redis.delete(keys.board(board), keys.names(board), keys.reached(board))


def gateway_page(
    stack: DevstackSettings, keys: RedisKeys, offset: int, limit: int, board: str = BOARD
) -> Page:
    sort: Sort = "asc" if board == LAPS_BOARD else "desc"

    async def read() -> Page:
        client = AsyncRedis(**stack.redis_client_kwargs())
        try:
            return await Rankings(client, keys).page(board, offset, limit, sort)
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_the_publishers_top_n_ranks_ties_as_zrevrank_does(redis: Redis, keys: RedisKeys) -> None:
    top = TopReader(redis, keys, top_n=4).top(BOARD, BoardView(BOARD))
    assert [entry.player_id for entry in top] == RANKED[:4]
    for entry in top:
        assert entry.rank == redis.zrevrank(keys.board(BOARD), entry.player_id) + 1
    assert [entry.display_name for entry in top] == ["Ann", None, "Dee", None]
    assert [entry.score for entry in top] == [100, 50, 50, 50]
    assert TopReader(redis, keys, top_n=4).top("no-such-board", BoardView("x")) == []


def test_a_boards_own_top_n_overrides_the_deployments(redis: Redis, keys: RedisKeys) -> None:
    top = TopReader(redis, keys, top_n=4).top(BOARD, BoardView(BOARD, top_n=2))
    assert [entry.player_id for entry in top] == RANKED[:2]


def test_an_ascending_board_ranks_the_lowest_first_in_its_own_sign(
    stack: DevstackSettings, redis: Redis, keys: RedisKeys
) -> None:
    top = TopReader(redis, keys, top_n=10).top(LAPS_BOARD, BoardView("Laps", sort="asc"))
    assert [(entry.player_id, entry.score) for entry in top] == [
        ("cy", 83_456),
        ("ann", 83_456),
        ("bob", 90_001),
    ]
    assert gateway_page(stack, keys, 0, 10, LAPS_BOARD).entries == top
    assert [entry.player_id for entry in top] == LAPS_RANKED


def test_the_gateways_pages_hold_the_publishers_entries(
    stack: DevstackSettings, redis: Redis, keys: RedisKeys
) -> None:
    everyone = TopReader(redis, keys, top_n=10).top(BOARD, BoardView(BOARD))
    first, rest = gateway_page(stack, keys, 0, 2), gateway_page(stack, keys, 2, 10)
    assert first.total == rest.total == len(SCORES)
    assert first.entries + rest.entries == everyone
    assert gateway_page(stack, keys, 0, 10).entries == everyone
    assert gateway_page(stack, RedisKeys(f"t{uuid.uuid4().hex[:10]}"), 0, 10) == Page(0, [])
