"""``PublisherSettings``: how often and how much of each leaderboard is published."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from leaderboard.core.config import Port, RedisSettings


class PublisherSettings(RedisSettings):
    """Settings of ``python -m leaderboard.publisher``."""

    service_name: ClassVar[str] = "publisher"
    http_port: Port = Field(9103, description="Port of `/metrics` and the probes.")
    publisher_group_id: str = Field(
        "publisher", min_length=1, description="Kafka consumer group of the publishers."
    )
    publisher_interval_seconds: float = Field(
        0.1,
        gt=0,
        le=60,
        description="Each leaderboard is published at most once per this interval.",
    )
    publisher_top_n: int = Field(
        10, ge=1, le=1000, description="Entries in each snapshot (the top N players)."
    )
