"""``ArchiverSettings``: the archiver's group and schema policy (``LEADERBOARD_ARCHIVER_*``)
on top of the PostgreSQL connection and the settings every process shares."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from leaderboard.core.config import Port, PostgresSettings


class ArchiverSettings(PostgresSettings):
    """Settings of ``python -m leaderboard.archiver`` and ``leaderboard-migrate``."""

    service_name: ClassVar[str] = "archiver"
    http_port: Port = Field(9102, description="Port of `/metrics` and the probes.")

    archiver_group_id: str = Field(
        "archiver",
        min_length=1,
        max_length=255,
        description="Kafka consumer group of the archiver; every replica shares it.",
    )
    archiver_migrate_on_start: bool = Field(
        True,
        description="Upgrade the schema to the newest migration at start-up (handy for "
        "`make run`; concurrent starts are serialised by an advisory lock). Set it to "
        "false where a deploy step runs `python -m leaderboard.archiver.migrate` (the "
        "Helm hook); the archiver then only checks the schema and fails clearly if it "
        "is missing.",
    )
