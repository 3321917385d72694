"""The Redis key layout shared by the ranker, the publisher and the gateway.

Every key carries one hash tag: one Redis Cluster slot (docs/architecture.md, "Redis keys").
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
        """The sorted set of standings: player id -> ``core.standings.stored_score()``."""
        return f"{self.tag}:standings:{leaderboard}"

    def reached(self, leaderboard: str) -> str:
        """Hash, on ``latest`` boards only: player id -> exact reach code of its value
        (``core.standings.reach_code``), which the stored score holds only approximately."""
        return f"{self.tag}:reached:{leaderboard}"

    def names(self, leaderboard: str) -> str:
        return f"{self.tag}:names:{leaderboard}"

    def resets(self) -> str:
        """Hash: board id -> reach code (``core.standings``) of its last reset."""
        return f"{self.tag}:resets"

    def erased(self) -> str:
        """Set: ``core.erasures.redis_erasure_key`` of every erased player."""
        return f"{self.tag}:erased"

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
