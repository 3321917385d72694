"""Add ``leaderboards.reset_at``, the time of a board's last reset (revision 0003).

A column, not a key of ``definition``: a PUT replaces the spec and must keep the reset.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leaderboards", sa.Column("reset_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("leaderboards", "reset_at")
