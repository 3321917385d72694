"""The closed periods' tables (created by the archiver's migration 0005): written by the
closer, read by the gateway, cleared of an erased player by the ingest service."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

period_tables = MetaData()

# One row per closed period, written in the transaction that stores its standings: a row
# means the period is closed and its standings are complete (docs/architecture.md, "Closing").
period_closes = Table(
    "period_closes",
    period_tables,
    Column("leaderboard", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=True),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("players", BigInteger, nullable=False),
    # The board's definition at the close: how its scores read (sort, format, title).
    Column("definition", JSONB, nullable=False),
    # The period-closed message: where a scan for it starts (partition -> end offset before
    # it was produced), then where it is once known.
    Column("announce_from", JSONB, nullable=True),
    Column("announced_partition", BigInteger, nullable=True),
    Column("announced_offset", BigInteger, nullable=True),
    PrimaryKeyConstraint("leaderboard", "period", name="pk_period_closes"),
    Index("ix_period_closes_leaderboard_ends_at", "leaderboard", "ends_at"),
)
# Every player of a closed period, as Redis ranked them at the close.
period_standings = Table(
    "period_standings",
    period_tables,
    Column("leaderboard", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("rank", BigInteger, nullable=False),
    Column("player_id", Text, nullable=False),
    Column("display_name", Text, nullable=True),
    Column("score", BigInteger, nullable=False),
    Column("reached_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("leaderboard", "period", "rank", name="pk_period_standings"),
    ForeignKeyConstraint(
        ["leaderboard", "period"],
        ["period_closes.leaderboard", "period_closes.period"],
        name="fk_period_standings_period_closes",
        ondelete="CASCADE",
    ),
    Index(
        "ix_period_standings_leaderboard_period_player_id",
        "leaderboard",
        "period",
        "player_id",
        unique=True,
    ),
    Index("ix_period_standings_player_id", "player_id"),
)
