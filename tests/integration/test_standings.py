"""The shared page script on the stack's Redis: the publisher's top N and the gateway's
pages rank ties alike, in the order ``ZREVRANK`` gives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import Page
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.gateway.rankings import Rankings
from leaderboard.publisher.snapshots import TopReader

pytestmark = pytest.mark.integration

BOARD = "standings"
#: Ties at 50 are ranked by player id in reverse order: d, c, b.
SCORES = {"p-a": 100, "p-b": 50, "p-c": 50, "p-d": 50, "p-e": 10}
NAMES = {"p-a": "Ann", "p-d": "Dee"}


@pytest.fixture
def keys(redis: Redis) -> Iterator[RedisKeys]:
    """A key prefix of this test's own holding ``SCORES`` and ``NAMES`` on ``BOARD``."""
    keys = RedisKeys(f"t{uuid.uuid4().hex[:10]}")
    redis.zadd(keys.board(BOARD), SCORES)
    redis.hset(keys.names(BOARD), mapping=NAMES)
    yield keys
    redis.delete(keys.board(BOARD), keys.names(BOARD))


def gateway_page(stack: DevstackSettings, keys: RedisKeys, offset: int, limit: int) -> Page:
    async def read() -> Page:
        client = AsyncRedis(**stack.redis_client_kwargs())
        try:
            return await Rankings(client, keys).page(BOARD, offset, limit)
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_the_publishers_top_n_ranks_ties_as_zrevrank_does(redis: Redis, keys: RedisKeys) -> None:
    top = TopReader(redis, keys, top_n=4).top(BOARD)
    assert [entry.player_id for entry in top] == ["p-a", "p-d", "p-c", "p-b"]
    for entry in top:
        assert entry.rank == redis.zrevrank(keys.board(BOARD), entry.player_id) + 1
    assert [entry.display_name for entry in top] == ["Ann", "Dee", None, None]
    assert [entry.score for entry in top] == [100, 50, 50, 50]
    assert TopReader(redis, keys, top_n=4).top("no-such-board") == []


def test_the_gateways_pages_hold_the_publishers_entries(
    stack: DevstackSettings, redis: Redis, keys: RedisKeys
) -> None:
    everyone = TopReader(redis, keys, top_n=10).top(BOARD)
    first, rest = gateway_page(stack, keys, 0, 2), gateway_page(stack, keys, 2, 10)
    assert first.total == rest.total == len(SCORES)
    assert first.entries + rest.entries == everyone
    assert gateway_page(stack, keys, 0, 10).entries == everyone
    assert gateway_page(stack, RedisKeys(f"t{uuid.uuid4().hex[:10]}"), 0, 10) == Page(0, [])
