"""Redis key patterns only tests need; the services name every key exactly."""

from __future__ import annotations

from redis import Redis

from leaderboard.core.keys import RedisKeys


def seen_pattern(keys: RedisKeys) -> str:
    """A SCAN pattern matching every set of the ranker's dedup window."""
    return keys.seen(0).removesuffix(":0") + ":*"


def delete_keys(redis: Redis, prefix: str) -> int:
    """Remove every key of one key prefix; returns how many. (Braces are not special in
    a SCAN pattern, so the hash tag needs no escaping.)"""
    deleted = 0
    batch: list[bytes] = []
    for key in redis.scan_iter(match=RedisKeys(prefix).tag + ":*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += redis.unlink(*batch)
            batch.clear()
    if batch:
        deleted += redis.unlink(*batch)
    return deleted
