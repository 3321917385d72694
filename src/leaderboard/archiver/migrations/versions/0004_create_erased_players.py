"""Create the erased players' suppression list (revision 0004).

Why it is kept forever and holds hashes: docs/services.md, "Erasure".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erased_players",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("player_hash", sa.Text(), nullable=False),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_erased_players"),
        sa.UniqueConstraint("player_hash", name="uq_erased_players_player_hash"),
    )


def downgrade() -> None:
    op.drop_table("erased_players")
