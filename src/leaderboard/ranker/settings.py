"""``RankerSettings``: the ranker's consumer group and dedup window."""

from __future__ import annotations

from typing import ClassVar, Literal

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
    ranker_undefined_boards: Literal["create", "dead_letter"] = Field(
        "create",
        description="What an event for a board without a definition does: `create` ranks it "
        "on a board with the default definition (a sum, highest first); `dead_letter` sends "
        "it to the dead-letter topic with reason `unknown_leaderboard`.",
    )
