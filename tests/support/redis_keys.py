"""Redis key patterns only tests need; the services name every key exactly."""

from __future__ import annotations

from leaderboard.core.keys import RedisKeys


def seen_pattern(keys: RedisKeys) -> str:
    """A SCAN pattern matching every set of the ranker's dedup window."""
    return keys.seen(0).removesuffix(":0") + ":*"
