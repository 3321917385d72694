"""The board definition and erasure tables (created by the archiver's migrations 0002 to
0004, written by the ingest service's admin API), declared once for both."""

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
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

board_tables = MetaData()

#: The PostgreSQL advisory lock that orders an erasure against the archiver's inserts: an
#: erasure holds it exclusively while it records the player and deletes its rows, each
#: archiver batch shares it while it inserts, so no row of an erased player is committed
#: after its erasure (docs/services.md, "Erasure").
ERASURE_LOCK = 0x6C62_6572_6173_6501

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
# One row per erased player, never deleted: the suppression list that keeps an erased
# player's events out of the archive and the standings (docs/services.md, "Erasure").
erased_players = Table(
    "erased_players",
    board_tables,
    Column("id", BigInteger, autoincrement=True, nullable=False),
    Column("player_hash", Text, nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("id", name="pk_erased_players"),
    UniqueConstraint("player_hash", name="uq_erased_players_player_hash"),
)
