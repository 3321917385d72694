"""``RankerSettings``: the ranker's consumer group and dedup window."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from leaderboard.core.config import Port, RedisSettings


class RankerSettings(RedisSettings):
    """Settings of ``python -m leaderboard.ranker``."""

    service_name: ClassVar[str] = "ranker"
    http_port: Port = Field(9101, description="Port of `/metrics` and the probes.")
    ranker_group_id: str = Field(
        "ranker", min_length=1, description="Kafka consumer group of the rankers."
    )
    ranker_dedup_window_seconds: int = Field(
        300,
        ge=1,
        le=86_400,
        description="A retried event_id is recognised for at least this long (and at most "
        "twice as long); see docs/events.md for the memory cost.",
    )
