"""The archive database's tables as SQLAlchemy Core sees them: ``score_events`` for the
archiver's inserts, and the board definition tables (``core.board_tables``).

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
    Uuid,
    func,
)

from leaderboard.core.board_tables import board_tables
from leaderboard.core.period_tables import period_tables

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

# The board definition tables (revisions 0002 to 0004) and the closed periods' (0005),
# declared once in core for the services that use them; copied here so the migrations see
# the whole schema.
for _table in [*board_tables.tables.values(), *period_tables.sorted_tables]:
    _table.to_metadata(metadata)
