"""Closed periods written straight into PostgreSQL as the closer stores them (one
``period_closes`` row and every player's ``period_standings`` row, in one transaction),
for tests of what reads them without running a closer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, insert

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.period_tables import period_closes, period_standings
from leaderboard.core.periods import Period

#: A row of final standings: (player id, display name, score, reached at), by rank.
Standing = tuple[str, str | None, int, datetime]


def store_closed_period(
    engine: Engine, definition: BoardDefinition, period: Period, standings: Sequence[Standing]
) -> None:
    """Close ``period`` of ``definition``'s board with ``standings`` (best first)."""
    assert period.end is not None, "a period that never ends is never closed"
    with engine.begin() as connection:
        connection.execute(
            insert(period_closes).values(
                leaderboard=definition.id,
                period=period.id,
                starts_at=period.start,
                ends_at=period.end,
                players=len(standings),
                definition=definition.model_dump(mode="json"),
            )
        )
        if standings:
            connection.execute(
                insert(period_standings),
                [
                    {
                        "leaderboard": definition.id,
                        "period": period.id,
                        "rank": rank,
                        "player_id": player,
                        "display_name": name,
                        "score": score,
                        "reached_at": reached,
                    }
                    for rank, (player, name, score, reached) in enumerate(standings, start=1)
                ],
            )
