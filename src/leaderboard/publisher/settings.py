"""``PublisherSettings``: how often and how much of each leaderboard is published."""

from __future__ import annotations

from pydantic import Field

from leaderboard.core.config import Port, RedisSettings


class PublisherSettings(RedisSettings):
    """Settings of ``python -m leaderboard.publisher``."""

    service_name: str = Field("publisher", description="Name on every log line and metric.")
    http_port: Port = Field(9103, description="Port of `/metrics` and the probes.")
    publisher_group_id: str = Field(
        "publisher", min_length=1, description="Kafka consumer group of the publishers."
    )
    publisher_interval_ms: int = Field(
        100,
        ge=1,
        le=60_000,
        description="Each leaderboard is published at most once per this interval.",
    )
    publisher_top_n: int = Field(
        10, ge=1, le=1000, description="Entries in each snapshot (the top N players)."
    )
    publisher_batch_size: int = Field(
        1000, ge=1, le=100_000, description="Most change notices read in one batch."
    )
