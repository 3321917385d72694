"""The archive database's tables as SQLAlchemy Core sees them: ``score_events`` for the
archiver's inserts, and the board definition tables the ingest service writes.

Only the Alembic migrations create or change them; this must describe the newest one.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

TABLE_NAME = "score_events"
#: Alembic's bookkeeping table; named after the service so that another component
#: using Alembic on the same database cannot collide with it.
VERSION_TABLE = "archiver_alembic_version"

metadata = MetaData()

score_events = Table(
    TABLE_NAME,
    metadata,
    # The ScoreEvent fields (docs/events.md); the lengths are the contract's bounds.
    Column("event_id", Uuid(as_uuid=True), nullable=False),
    Column("leaderboard", String(64), nullable=False),
    Column("player_id", String(128), nullable=False),
    Column("display_name", String(64), nullable=True),
    Column("score", BigInteger, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("version", SmallInteger, nullable=False),
    # Provenance: where the row came from in Kafka, and when it was written.
    Column("kafka_partition", Integer, nullable=False),
    Column("kafka_offset", BigInteger, nullable=False),
    Column("archived_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Time-ordered analytics ("scores of the last hour"), and one player's history.
    PrimaryKeyConstraint("event_id", name="pk_score_events"),
    Index("ix_score_events_occurred_at", "occurred_at"),
    Index("ix_score_events_leaderboard_player_id", "leaderboard", "player_id"),
)

# Board definitions (revision 0002). The ingest service declares the columns it uses
# itself (leaderboard.ingest.definitions): services never import one another.
leaderboards = Table(
    "leaderboards",
    metadata,
    Column("id", Text, nullable=False),
    Column("definition", JSONB, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("id", name="pk_leaderboards"),
)
# The last revision given to each board id; kept when the board is deleted, so that a
# re-created board carries a higher revision than anything on the definitions topic.
leaderboard_revisions = Table(
    "leaderboard_revisions",
    metadata,
    Column("leaderboard", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
    PrimaryKeyConstraint("leaderboard", name="pk_leaderboard_revisions"),
)
admin_audit = Table(
    "admin_audit",
    metadata,
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
