"""Create the score_events table and its analytics indexes (revision 0001).

Why these indexes and no partitioning: docs/services.md, "Archiver".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "score_events",
        sa.Column("event_id", sa.Uuid(as_uuid=True), nullable=False),
        sa.Column("leaderboard", sa.String(64), nullable=False),
        sa.Column("player_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=True),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "archived_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_score_events"),
    )
    op.create_index("ix_score_events_occurred_at", "score_events", ["occurred_at"])
    op.create_index(
        "ix_score_events_leaderboard_player_id", "score_events", ["leaderboard", "player_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_score_events_leaderboard_player_id", table_name="score_events")
    op.drop_index("ix_score_events_occurred_at", table_name="score_events")
    op.drop_table("score_events")
