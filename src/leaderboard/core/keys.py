"""The Redis key layout shared by the ranker, the publisher and the gateway.

Every key carries the same hash tag, ``{<prefix>}``, so all keys live in one Redis
Cluster hash slot. That is what lets the ranker apply a partition's batch, which may
touch several leaderboards, its offsets and its dedup window in one atomic Lua script
without CROSSSLOT errors. The price is that one deployment's keys sit on one shard,
which at one sorted set per leaderboard is far from a limit.

| key | type | holds |
| --- | --- | --- |
| ``{p}:board:<leaderboard>`` | sorted set | player id -> total score |
| ``{p}:names:<leaderboard>`` | hash | player id -> display name |
| ``{p}:boards`` | set | every leaderboard id seen |
| ``{p}:offsets:<group>:<topic>`` | hash | partition -> next offset to apply |
| ``{p}:seen:<bucket>`` | set | event ids applied in one dedup time bucket |
| ``{p}:snapshot:<leaderboard>`` | string | the latest snapshot JSON (the cache) |
| ``{p}:snapshot-version:<leaderboard>`` | string | the snapshot version counter |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    """Builds the project's Redis keys for one key prefix."""

    prefix: str = "lb"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def board(self, leaderboard: str) -> str:
        return f"{self.tag}:board:{leaderboard}"

    def names(self, leaderboard: str) -> str:
        return f"{self.tag}:names:{leaderboard}"

    def boards(self) -> str:
        return f"{self.tag}:boards"

    def offsets(self, group: str, topic: str) -> str:
        return f"{self.tag}:offsets:{group}:{topic}"

    def seen(self, bucket: int) -> str:
        return f"{self.tag}:seen:{bucket}"

    def snapshot(self, leaderboard: str) -> str:
        return f"{self.tag}:snapshot:{leaderboard}"

    def snapshot_version(self, leaderboard: str) -> str:
        return f"{self.tag}:snapshot-version:{leaderboard}"
