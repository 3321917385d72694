"""Closed periods from PostgreSQL (the closer's ``period_closes`` and ``period_standings``):
which a board has, and their final standings in the shapes of the live reads.

Blocking, read only: the REST API calls it from worker threads; every failure is a
``DatabaseError`` whose message names the cause in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from psycopg2 import errors as pg_errors
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Connection, Engine, Row, exc, select, tuple_

from leaderboard.core.boards import BoardDefinition, BoardView
from leaderboard.core.database import create_postgres_engine
from leaderboard.core.errors import DatabaseError
from leaderboard.core.events import SnapshotEntry
from leaderboard.core.logging import get_logger
from leaderboard.core.period_tables import period_closes, period_standings
from leaderboard.core.periods import Period
from leaderboard.core.standings import Page
from leaderboard.gateway.rankings import Neighbourhood
from leaderboard.gateway.settings import GatewaySettings

log = get_logger(__name__)

T = TypeVar("T")

#: Connections of one gateway: reads of closed periods are rare next to the live ones.
POOL_SIZE = 2


def create_closed_periods_engine(settings: GatewaySettings) -> Engine:
    return create_postgres_engine(settings, pool_size=POOL_SIZE)


@dataclass(frozen=True)
class ClosedPeriod:
    """A closed period: its bounds, its number of players, and how its board ranked and
    showed scores at the close (the definition stored with it)."""

    period: Period
    players: int
    view: BoardView


class ClosedPeriods:
    """The closed periods of every board, read from ``engine``'s database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def listed(
        self, board: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[ClosedPeriod]:
        """Up to ``limit`` closed periods of ``board`` in which someone scored, newest
        (latest end) first; with ``before``, only those ordered after that (end, id)."""
        query = (
            select(period_closes)
            .where(period_closes.c.leaderboard == board, period_closes.c.players > 0)
            .order_by(period_closes.c.ends_at.desc(), period_closes.c.period.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(tuple_(period_closes.c.ends_at, period_closes.c.period) < before)
        rows = self._run("list the closed periods", lambda c: c.execute(query).all())
        return [_closed(board, row) for row in rows]

    def page(
        self, board: str, period: str, offset: int, limit: int
    ) -> tuple[ClosedPeriod, Page] | None:
        """Ranks ``offset + 1`` to ``offset + limit`` of a closed period; None when
        ``period`` is not closed (no ``period_closes`` row)."""
        ranks = period_standings.c.rank
        return self._rows(board, period, (ranks > offset) & (ranks <= offset + limit))

    def players(
        self, board: str, period: str, player_ids: Sequence[str]
    ) -> tuple[ClosedPeriod, Page] | None:
        """The rows of those of ``player_ids`` in a closed period, by rank."""
        return self._rows(board, period, period_standings.c.player_id.in_(list(player_ids)))

    def _rows(
        self, board: str, period: str, which: ColumnElement[bool]
    ) -> tuple[ClosedPeriod, Page] | None:
        def read(connection: Connection) -> tuple[ClosedPeriod, Page] | None:
            closed = _close_of(connection, board, period)
            if closed is None:
                return None
            rows = connection.execute(
                _standings(board, period).where(which).order_by(period_standings.c.rank)
            ).all()
            return closed, Page(total=closed.players, entries=_entries(rows))

        return self._run("read a closed period's standings", read)

    def around(
        self, board: str, period: str, player_id: str, radius: int
    ) -> tuple[ClosedPeriod, Neighbourhood] | None:
        """A player's row and up to ``radius`` rows on each side in a closed period
        (``rank`` None when the player has no row in it)."""

        def read(connection: Connection) -> tuple[ClosedPeriod, Neighbourhood] | None:
            closed = _close_of(connection, board, period)
            if closed is None:
                return None
            rank = connection.execute(
                select(period_standings.c.rank).where(
                    period_standings.c.leaderboard == board,
                    period_standings.c.period == period,
                    period_standings.c.player_id == player_id,
                )
            ).scalar_one_or_none()
            if rank is None:
                return closed, Neighbourhood(total=closed.players, rank=None, entries=[])
            rows = connection.execute(
                _standings(board, period)
                .where(period_standings.c.rank.between(rank - radius, rank + radius))
                .order_by(period_standings.c.rank)
            ).all()
            return closed, Neighbourhood(total=closed.players, rank=rank, entries=_entries(rows))

        return self._run("read a player of a closed period", read)

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        # One read-only transaction: the close row and its standings are read together.
        try:
            with self._engine.connect() as connection:
                return work(connection)
        except exc.SQLAlchemyError as error:
            raise _database_error(error, what) from None


def _close_of(connection: Connection, board: str, period: str) -> ClosedPeriod | None:
    row = connection.execute(
        select(period_closes).where(
            period_closes.c.leaderboard == board, period_closes.c.period == period
        )
    ).one_or_none()
    return None if row is None else _closed(board, row)


def _closed(board: str, row: Row[Any]) -> ClosedPeriod:
    return ClosedPeriod(
        period=Period(row.period, row.starts_at, row.ends_at),
        players=int(row.players),
        view=_view(board, row.definition),
    )


def _view(board: str, definition: Any) -> BoardView:
    try:
        return BoardView.of(board, BoardDefinition.model_validate(definition))
    except ValidationError as error:
        # Never expected (the closer stores a valid definition); the rows stay readable.
        log.warning(
            "a closed period's stored definition is invalid; showing the defaults",
            leaderboard=board,
            error=str(error).splitlines()[0],
        )
        return BoardView(title=board)


def _standings(board: str, period: str) -> Any:
    columns = period_standings.c
    return select(columns.rank, columns.player_id, columns.display_name, columns.score).where(
        columns.leaderboard == board, columns.period == period
    )


def _entries(rows: Sequence[Row[Any]]) -> list[SnapshotEntry]:
    return [
        SnapshotEntry(
            rank=row.rank, player_id=row.player_id, display_name=row.display_name, score=row.score
        )
        for row in rows
    ]


def _database_error(error: exc.SQLAlchemyError, what: str) -> DatabaseError:
    """One line for the answer and the logs: the driver's message, no SQL or values."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(cause, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return DatabaseError(
            f"cannot {what}: the closed periods' tables are missing; run "
            "`python -m leaderboard.archiver.migrate` (migration 0005)"
        )
    text = str(cause).strip()
    first_line = text.splitlines()[0] if text else type(cause).__name__
    return DatabaseError(f"cannot {what}: {type(cause).__name__}: {first_line}")
