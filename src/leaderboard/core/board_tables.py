"""The board definition tables (created by the archiver's migrations 0002 and 0003,
written by the ingest service's admin API), declared once for both."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

board_tables = MetaData()

leaderboards = Table(
    "leaderboards",
    board_tables,
    Column("id", Text, nullable=False),
    Column("definition", JSONB, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The last reset (revision 0003); null: never reset.
    Column("reset_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("id", name="pk_leaderboards"),
)
# The last revision given to each board id; kept when the board is deleted, so that a
# re-created board carries a higher revision than anything on the definitions topic.
leaderboard_revisions = Table(
    "leaderboard_revisions",
    board_tables,
    Column("leaderboard", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
    PrimaryKeyConstraint("leaderboard", name="pk_leaderboard_revisions"),
)
admin_audit = Table(
    "admin_audit",
    board_tables,
    Column("id", BigInteger, autoincrement=True, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("leaderboard", Text, nullable=True),
    Column("player_id", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("detail", JSONB, nullable=True),
    PrimaryKeyConstraint("id", name="pk_admin_audit"),
    Index("ix_admin_audit_leaderboard_at", "leaderboard", "at"),
)
