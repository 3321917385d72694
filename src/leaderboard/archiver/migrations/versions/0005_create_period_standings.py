"""Create the closed periods and their final standings (revision 0005).

What closing a period writes: docs/architecture.md, "Closing".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "period_closes",
        sa.Column("leaderboard", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "closed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("players", sa.BigInteger(), nullable=False),
        sa.Column("definition", JSONB(), nullable=False),
        sa.Column("announce_from", JSONB(), nullable=True),
        sa.Column("announced_partition", sa.BigInteger(), nullable=True),
        sa.Column("announced_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("leaderboard", "period", name="pk_period_closes"),
    )
    op.create_index(
        "ix_period_closes_leaderboard_ends_at", "period_closes", ["leaderboard", "ends_at"]
    )
    op.create_table(
        "period_standings",
        sa.Column("leaderboard", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        sa.Column("player_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("leaderboard", "period", "rank", name="pk_period_standings"),
        sa.ForeignKeyConstraint(
            ["leaderboard", "period"],
            ["period_closes.leaderboard", "period_closes.period"],
            name="fk_period_standings_period_closes",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_period_standings_leaderboard_period_player_id",
        "period_standings",
        ["leaderboard", "period", "player_id"],
        unique=True,
    )
    op.create_index("ix_period_standings_player_id", "period_standings", ["player_id"])


def downgrade() -> None:
    op.drop_table("period_standings")
    op.drop_table("period_closes")
