"""``ArchiverSettings``: the archiver's tunables (``LEADERBOARD_ARCHIVER_*``) on top of the
PostgreSQL connection and the settings every process shares."""

from __future__ import annotations

from pydantic import Field

from leaderboard.core.config import Port, PostgresSettings


class ArchiverSettings(PostgresSettings):
    """Settings of ``python -m leaderboard.archiver`` and ``leaderboard-migrate``."""

    service_name: str = Field("archiver", description="Name on every log line and metric.")
    http_port: Port = Field(9102, description="Port of `/metrics` and the probes.")

    archiver_group_id: str = Field(
        "archiver",
        min_length=1,
        max_length=255,
        description="Kafka consumer group of the archiver; every replica shares it.",
    )
    archiver_batch_size: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="Most messages consumed and inserted per batch (one transaction).",
    )
    archiver_poll_timeout_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Longest wait for a batch to fill before the messages received so far "
        "are written (bounds how stale the archive is under light traffic).",
    )
    archiver_retry_min_seconds: float = Field(
        0.1,
        gt=0,
        le=60,
        description="First wait before retrying a batch PostgreSQL did not accept; each "
        "further wait doubles, up to `archiver_retry_max_seconds`.",
    )
    archiver_retry_max_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Longest wait between two attempts at a batch while PostgreSQL is down "
        "(the archiver retries until it comes back or the process is stopped).",
    )
    archiver_connect_timeout_seconds: int = Field(
        5,
        ge=2,
        le=300,
        description="Bound on opening one PostgreSQL connection (libpq `connect_timeout`).",
    )
    archiver_max_poll_interval_seconds: int = Field(
        1800,
        ge=60,
        le=86_400,
        description="Kafka `max.poll.interval.ms` in seconds: how long a batch may stay "
        "pending (PostgreSQL down) before the consumer leaves its group. Longer than the "
        "5 min default so an outage does not cause rebalances; a wedged process is caught "
        "by the liveness probe instead.",
    )
    archiver_migrate_on_start: bool = Field(
        True,
        description="Upgrade the schema to the newest migration at start-up (handy for "
        "`make run`; concurrent starts are serialised by an advisory lock). Set it to "
        "false where a deploy step runs `python -m leaderboard.archiver.migrate` (the "
        "Helm hook); the archiver then only checks the schema and fails clearly if it "
        "is missing.",
    )
