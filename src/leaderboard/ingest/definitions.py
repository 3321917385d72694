"""Board definitions in PostgreSQL: create, change, reset, read and delete them, one
transaction each with its audit rows; the admin routes publish the result to the
definitions topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from enum import Enum
from typing import Any

from psycopg2 import errors as pg_errors
from sqlalchemy import (
    Connection,
    Engine,
    exc,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from leaderboard.core.board_tables import admin_audit, leaderboard_revisions, leaderboards
from leaderboard.core.boards import BoardDefinition, BoardSpec, Sort
from leaderboard.core.database import create_postgres_engine
from leaderboard.core.errors import DatabaseError
from leaderboard.ingest.settings import IngestSettings

MIGRATE_HINT = "run `python -m leaderboard.archiver.migrate` (or `leaderboard-migrate`) first"


def create_definitions_engine(settings: IngestSettings) -> Engine:
    """A small pool for the admin API: writes are rare, a replaced connection is cheap."""
    return create_postgres_engine(settings, pool_size=1)


class Change(Enum):
    """What a PUT did to the stored definition."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def plan_put(stored: BoardSpec | None, spec: BoardSpec) -> Change:
    """Whether a PUT of ``spec`` creates, changes or leaves the stored spec as it is."""
    if stored is None:
        return Change.CREATED
    # Field by field, so a re-sent identical body never makes a new revision.
    return Change.UNCHANGED if _spec_of(stored) == _spec_of(spec) else Change.UPDATED


#: How the ranker scores a board without a definition (``create`` mode): its standings
#: were built this way.
DEFAULT_SORT: Sort = BoardSpec.model_fields["sort"].default


#: What a board's standings were built by: a change of any of them needs a reset.
SCORING_FIELDS = ("operator", "sort", "reset", "timezone")
#: The spec of a board without a definition.
_UNDEFINED = BoardSpec(title="-")


def _scoring(spec: BoardSpec | None) -> dict[str, str]:
    return {name: getattr(spec or _UNDEFINED, name) for name in SCORING_FIELDS}


def changes_scoring(stored: BoardSpec | None, spec: BoardSpec) -> bool:
    """Whether ``spec`` ranks with another operator or sort, or cuts periods by another
    reset or time zone, than the standings were built with: the stored definition's, or
    the defaults for a board without one."""
    return _scoring(spec) != _scoring(stored)


class StandingsConflictError(Exception):
    """A PUT would change how a board with standings ranks, without resetting it."""

    def __init__(self, board_id: str, stored: BoardSpec | None, spec: BoardSpec) -> None:
        held, wanted = _scoring(stored), _scoring(spec)
        was = ", ".join(f"{name} {value!r}" for name, value in held.items())
        if stored is None:
            was += ": the defaults of a board without a definition"
        changes = ", ".join(
            f"{name} {value!r}" for name, value in wanted.items() if held[name] != value
        )
        super().__init__(
            f"the board {board_id!r} has standings ({was}); changing to {changes} would mix "
            "scores combined by two rules. Add ?reset=true to clear the standings with this "
            f"change, or keep {', '.join(SCORING_FIELDS)}"
        )


def _spec_of(spec: BoardSpec) -> dict[str, Any]:
    """Only the spec's own fields (a BoardDefinition also carries id and revision)."""
    return spec.model_dump(mode="json", include=set(BoardSpec.model_fields))


@dataclass(frozen=True)
class PutResult:
    change: Change
    definition: BoardDefinition


def _definition(row: Any) -> BoardDefinition:
    reset_at = None if row.reset_at is None else row.reset_at.astimezone(UTC)
    return BoardDefinition.model_validate(
        {
            **row.definition,
            "id": row.id,
            "revision": row.revision,
            "updated_at": row.updated_at,
            "reset_at": reset_at,
        }
    )


def _database_error(error: exc.SQLAlchemyError, what: str) -> DatabaseError:
    """One line for the answer and the logs: the driver's message, no SQL or values."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(cause, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return DatabaseError(
            f"{what}: the board definition tables are missing or old; {MIGRATE_HINT}"
        )
    text = str(cause).strip()
    first_line = text.splitlines()[0] if text else type(cause).__name__
    return DatabaseError(f"{what}: {type(cause).__name__}: {first_line}")


class DefinitionStore:
    """Board definitions and their audit rows; every method is one transaction and raises
    ``DatabaseError`` when PostgreSQL fails (blocking: call it from a worker thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(
        self,
        board_id: str,
        spec: BoardSpec,
        actor: str,
        *,
        reset: bool = False,
        has_standings: Callable[[], bool] = lambda: False,
    ) -> PutResult:
        """Store ``spec``; with ``reset``, also reset the board in the same revision.

        A change of operator or sort raises ``StandingsConflictError`` when ``has_standings()``
        (asked only then, under the board's lock) says the board has standings.
        """
        try:
            with self.engine.begin() as connection:
                current = self._lock(connection, board_id)
                stored = self._read(connection, board_id)
                change = plan_put(stored, spec)
                if change is Change.UNCHANGED and not reset:
                    assert stored is not None
                    return PutResult(change, stored)
                if not reset and changes_scoring(stored, spec) and has_standings():
                    raise StandingsConflictError(board_id, stored, spec)
                revision = current + 1
                values: dict[str, Any] = {"definition": _spec_of(spec), "revision": revision}
                created, changed = dict(values), {**values, "updated_at": func.now()}
                if reset:
                    created["reset_at"] = func.clock_timestamp()
                    changed["reset_at"] = self._reset_time()
                upsert = pg_insert(leaderboards).values(id=board_id, **created)
                connection.execute(
                    upsert.on_conflict_do_update(index_elements=[leaderboards.c.id], set_=changed)
                )
                self._raise_counter(connection, board_id, revision)
                if change is not Change.UNCHANGED:
                    self._audit(
                        connection, actor, f"{change.value}_leaderboard", board_id, _spec_of(spec)
                    )
                written = self._read(connection, board_id)
                assert written is not None
                if reset:
                    self._audit_reset(connection, actor, written, reason=None)
                # A reset of an unchanged spec is still a new revision.
                return PutResult(Change.UPDATED if change is Change.UNCHANGED else change, written)
        except exc.SQLAlchemyError as error:
            raise _database_error(error, f"cannot store the definition of {board_id!r}") from error

    def reset(self, board_id: str, actor: str, reason: str | None) -> BoardDefinition | None:
        """Set the board's ``reset_at`` to now (the database's clock, never earlier than
        the last reset) under a new revision; None when the board has no definition."""
        try:
            with self.engine.begin() as connection:
                current = self._lock(connection, board_id)
                if self._read(connection, board_id) is None:
                    return None
                revision = current + 1
                connection.execute(
                    leaderboards.update()
                    .where(leaderboards.c.id == board_id)
                    .values(revision=revision, reset_at=self._reset_time(), updated_at=func.now())
                )
                self._raise_counter(connection, board_id, revision)
                written = self._read(connection, board_id)
                assert written is not None
                self._audit_reset(connection, actor, written, reason)
                return written
        except exc.SQLAlchemyError as error:
            raise _database_error(error, f"cannot reset the board {board_id!r}") from error

    def audit(
        self,
        actor: str,
        action: str,
        board_id: str,
        *,
        player_id: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an admin action that changed no definition (a moderation)."""
        try:
            with self.engine.begin() as connection:
                self._audit(
                    connection,
                    actor,
                    action,
                    board_id,
                    detail,
                    player_id=player_id,
                    reason=reason,
                )
        except exc.SQLAlchemyError as error:
            raise _database_error(error, f"cannot audit {action} on {board_id!r}") from error

    def delete(self, board_id: str, actor: str) -> BoardDefinition | None:
        """Delete the board's definition; returns what was deleted (None: nothing was)."""
        try:
            with self.engine.begin() as connection:
                self._lock(connection, board_id)
                stored = self._read(connection, board_id)
                if stored is None:
                    return None
                connection.execute(leaderboards.delete().where(leaderboards.c.id == board_id))
                self._audit(connection, actor, "delete_leaderboard", board_id, _spec_of(stored))
                return stored
        except exc.SQLAlchemyError as error:
            raise _database_error(error, f"cannot delete the board {board_id!r}") from error

    def get(self, board_id: str) -> BoardDefinition | None:
        try:
            with self.engine.connect() as connection:
                return self._read(connection, board_id)
        except exc.SQLAlchemyError as error:
            raise _database_error(error, f"cannot read the board {board_id!r}") from error

    def all(self) -> list[BoardDefinition]:
        """Every stored definition, sorted by id."""
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(select(leaderboards).order_by(leaderboards.c.id))
                return [_definition(row) for row in rows]
        except exc.SQLAlchemyError as error:
            raise _database_error(error, "cannot read the board definitions") from error

    def deleted_ids(self) -> list[str]:
        """Ids of boards that existed and were deleted (they had a revision, no row now)."""
        try:
            with self.engine.connect() as connection:
                missing = (
                    select(leaderboard_revisions.c.leaderboard)
                    .where(
                        leaderboard_revisions.c.revision > 0,
                        ~select(leaderboards.c.id)
                        .where(leaderboards.c.id == leaderboard_revisions.c.leaderboard)
                        .exists(),
                    )
                    .order_by(leaderboard_revisions.c.leaderboard)
                )
                return list(connection.execute(missing).scalars())
        except exc.SQLAlchemyError as error:
            raise _database_error(error, "cannot read the deleted boards") from error

    @staticmethod
    def _lock(connection: Connection, board_id: str) -> int:
        """Lock the board's revision counter (made at 0 the first time) until commit;
        returns its value. Serialises every write to one id across replicas."""
        connection.execute(
            pg_insert(leaderboard_revisions)
            .values(leaderboard=board_id, revision=0)
            .on_conflict_do_nothing(index_elements=[leaderboard_revisions.c.leaderboard])
        )
        return int(
            connection.execute(
                select(leaderboard_revisions.c.revision)
                .where(leaderboard_revisions.c.leaderboard == board_id)
                .with_for_update()
            ).scalar_one()
        )

    @staticmethod
    def _raise_counter(connection: Connection, board_id: str, revision: int) -> None:
        connection.execute(
            leaderboard_revisions.update()
            .where(leaderboard_revisions.c.leaderboard == board_id)
            .values(revision=revision)
        )

    @staticmethod
    def _reset_time() -> Any:
        """Now by the database's clock, read under the board's lock (so resets are as
        ordered as their revisions, whichever replica asks), never before the last one:
        the ranker drops every event that occurred before it."""
        return func.greatest(func.clock_timestamp(), leaderboards.c.reset_at)

    @staticmethod
    def _read(connection: Connection, board_id: str) -> BoardDefinition | None:
        row = connection.execute(
            select(leaderboards).where(leaderboards.c.id == board_id)
        ).one_or_none()
        return None if row is None else _definition(row)

    @staticmethod
    def _audit(
        connection: Connection,
        actor: str,
        action: str,
        board_id: str,
        detail: dict[str, Any] | None,
        *,
        player_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        connection.execute(
            insert(admin_audit).values(
                actor=actor,
                action=action,
                leaderboard=board_id,
                player_id=player_id,
                reason=reason,
                detail=detail,
            )
        )

    def _audit_reset(
        self, connection: Connection, actor: str, written: BoardDefinition, reason: str | None
    ) -> None:
        assert written.reset_at is not None
        detail = {"revision": written.revision, "reset_at": written.reset_at.isoformat()}
        self._audit(connection, actor, "reset_leaderboard", written.id, detail, reason=reason)
