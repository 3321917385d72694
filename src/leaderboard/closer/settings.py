"""``CloserSettings``: where the closer reads standings and the rankers' progress, and
where it stores closed periods."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from leaderboard.core.config import Port, PostgresSettings, RedisSettings


class CloserSettings(RedisSettings, PostgresSettings):
    """Settings of ``python -m leaderboard.closer``."""

    service_name: ClassVar[str] = "closer"
    http_port: Port = Field(9105, description="Port of `/metrics` and the probes.")
    closer_ranker_group_id: str = Field(
        "ranker",
        min_length=1,
        description="The rankers' consumer group (`LEADERBOARD_RANKER_GROUP_ID`): a period "
        "closes once they applied every score event that reached Kafka before its grace ended.",
    )

    @property
    def transactional_id(self) -> str:
        """The closer's Kafka transactional id: one per deployment (key prefix), so that a
        new closer fences off an old one that lost its lock but still runs."""
        return f"leaderboard-closer-{self.redis_key_prefix}"
