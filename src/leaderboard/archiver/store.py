"""PostgreSQL access: the engine, the batch insert and the failure classification.

One transaction per batch: ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import psycopg2
from psycopg2 import errors as pg_errors
from sqlalchemy import Connection, Engine, exc

from leaderboard.archiver.rows import Row
from leaderboard.archiver.schema import TABLE_NAME, score_events
from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.core.board_tables import ERASURE_LOCK
from leaderboard.core.database import create_postgres_engine
from leaderboard.core.errors import DatabaseError

MIGRATE_HINT = "run `python -m leaderboard.archiver.migrate` (or `leaderboard-migrate`) first"

#: The columns a batch writes, in COPY order; ``archived_at`` takes its default.
COLUMNS: tuple[str, ...] = tuple(c.name for c in score_events.columns if c.name != "archived_at")
_COLUMN_LIST = ", ".join(COLUMNS)
STAGING_TABLE = "pg_temp.archiver_staging"
#: Bound on opening one PostgreSQL connection, in seconds (libpq ``connect_timeout``).

# Temporary: private to the connection, never in the WAL, emptied by every commit; just
# the columns (types only, no constraints or indexes: the insert checks those). Created
# in every transaction (a no-op once it exists) rather than remembered per connection,
# because a rolled-back first batch also rolls back its creation. These statements are
# built from the module's own constants only, never from input (hence the noqa: S608).
_CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS "  # noqa: S608
    f"AS SELECT {_COLUMN_LIST} FROM {TABLE_NAME} WITH NO DATA"
)
_COPY = f"COPY {STAGING_TABLE} ({_COLUMN_LIST}) FROM STDIN"
_MOVE = (
    f"INSERT INTO {TABLE_NAME} ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {STAGING_TABLE} "  # noqa: S608
    "ON CONFLICT (event_id) DO NOTHING"
)
# Once any player was erased: the batch's rows of erased players are left out. The hash is
# core.erasures.erasure_key's (SHA-256 of the UTF-8 id, hex).
_ERASED_ROW = (
    "EXISTS (SELECT 1 FROM erased_players e WHERE e.player_hash = "
    "encode(sha256(convert_to(s.player_id, 'UTF8')), 'hex'))"
)
_MOVE_UNLESS_ERASED = (
    f"INSERT INTO {TABLE_NAME} ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {STAGING_TABLE} s "  # noqa: S608
    f"WHERE NOT {_ERASED_ROW} ON CONFLICT (event_id) DO NOTHING"
)
_COUNT_ERASED = f"SELECT count(*) FROM {STAGING_TABLE} s WHERE {_ERASED_ROW}"  # noqa: S608
_ANY_ERASED = "SELECT EXISTS (SELECT 1 FROM erased_players)"
_SHARE_ERASURE_LOCK = f"SELECT pg_advisory_xact_lock_shared({ERASURE_LOCK})"

#: COPY's text format: backslash, tab and line breaks are escaped, ``\N`` is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _copy_value(value: object) -> str:
    if value is None:
        return _NULL
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if hasattr(value, "isoformat"):  # datetimes carry their offset: no session time zone
        return str(value.isoformat())
    return str(value)  # UUIDs and integers


def copy_text(rows: Sequence[Row]) -> str:
    """``rows`` as the body of a text-format ``COPY ... FROM STDIN``, in ``COLUMNS`` order."""
    return "".join(
        "\t".join([_copy_value(row[column]) for column in COLUMNS]) + "\n" for row in rows
    )


@dataclass(frozen=True)
class PreparedBatch:
    """A batch made ready to write: its rows as COPY text, and how many there are."""

    copy_text: str
    rows: int


@dataclass(frozen=True)
class InsertResult:
    """What one batch insert did."""

    inserted: int
    duplicates: int
    erased: int = 0  # rows of erased players, left out


def create_archive_engine(settings: ArchiverSettings) -> Engine:
    """The archiver's engine (two connections: one batch written while the next decodes)."""
    return create_postgres_engine(settings, pool_size=2)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` means "PostgreSQL is not available right now": worth retrying.

    Connection failures, dropped connections, server shutdowns and serialisation or
    deadlock aborts are; a missing table, a permission problem or a value the column
    refuses are not, and retrying them would only hide a problem an operator must fix.
    """
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    # The COPY goes through the driver directly, so its errors arrive unwrapped.
    return isinstance(
        error,
        exc.OperationalError
        | exc.InterfaceError
        | psycopg2.OperationalError
        | psycopg2.InterfaceError,
    )


def describe_failure(error: BaseException) -> str:
    """One line for logs and readiness details (the driver's message, no SQL or rows)."""
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        text = str(error.orig).strip()
    else:
        text = str(error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    return f"{type(error).__name__}: {first_line}"


def permanent_failure(error: BaseException, what: str) -> DatabaseError:
    """The ``DatabaseError`` to raise for a failure that retrying will not fix."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    if isinstance(cause, pg_errors.UndefinedTable):
        return DatabaseError(f"{what}: the table {TABLE_NAME!r} does not exist; {MIGRATE_HINT}")
    return DatabaseError(f"{what}: {describe_failure(error)}")


class ScoreStore:
    """Inserts batches of ``score_events`` rows, one transaction per batch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, rows: Sequence[Row]) -> InsertResult:
        """Insert ``rows`` (skipping event ids already stored) and commit; raises the
        SQLAlchemy or driver error on failure, leaving nothing of the batch behind."""
        return self.write(self.prepare(rows))

    def prepare(self, rows: Sequence[Row]) -> PreparedBatch:
        """The CPU half of ``insert``: the rows as COPY text (no database access)."""
        return PreparedBatch(copy_text(rows), len(rows))

    def write(self, batch: PreparedBatch) -> InsertResult:
        """The database half of ``insert``: one transaction, committed on return."""
        if not batch.rows:
            return InsertResult(0, 0)
        erased = 0
        with self.engine.begin() as connection:
            connection.exec_driver_sql(_SHARE_ERASURE_LOCK)
            connection.exec_driver_sql(_CREATE_STAGING)
            _copy(connection, batch.copy_text)
            if connection.exec_driver_sql(_ANY_ERASED).scalar_one():
                erased = connection.exec_driver_sql(_COUNT_ERASED).scalar_one()
                inserted = connection.exec_driver_sql(_MOVE_UNLESS_ERASED).rowcount
            else:
                inserted = connection.exec_driver_sql(_MOVE).rowcount
        return InsertResult(inserted, batch.rows - inserted - erased, erased)


def _copy(connection: Connection, data: str) -> None:
    """Stream ``data`` into the staging table, in the connection's open transaction."""
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None  # a connection inside begin() is checked out
    # The engine's driver is psycopg2 (``sqlalchemy_url``): its cursor has ``copy_expert``.
    with cast("psycopg2.extensions.connection", dbapi_connection).cursor() as cursor:
        # One read of the whole text: the default 8 KiB reads cost a Python call each.
        cursor.copy_expert(_COPY, io.StringIO(data), size=max(len(data), 8192))
