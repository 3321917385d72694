"""PostgreSQL access: the engine, the batch insert and the failure classification.

One ``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id`` per batch, in one
transaction: SQLAlchemy's "insertmanyvalues" sends it as multi-row ``VALUES`` statements
(one statement per 1000 rows), never one round trip per event. The rows returned are the
ones inserted; the rest were already archived (redeliveries, producer retries,
duplicates inside the batch) and are counted as duplicates.

Failures are sorted into two kinds: ``is_transient`` ones (the server is unreachable,
restarting or dropped the connection) are retried by ``leaderboard.archiver.retry``;
anything else becomes a ``DatabaseError`` that stops the process, with a hint when the
cause is a missing schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg2 import errors as pg_errors
from sqlalchemy import Engine, create_engine, exc
from sqlalchemy.dialects.postgresql import insert

from leaderboard.archiver.schema import TABLE_NAME, score_events
from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.core.errors import DatabaseError

MIGRATE_HINT = "run `python -m leaderboard.archiver.migrate` (or `leaderboard-migrate`) first"

_INSERT = (
    insert(score_events)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(score_events.c.event_id)
)


@dataclass(frozen=True)
class InsertResult:
    """What one batch insert did."""

    inserted: int
    duplicates: int


def create_archive_engine(settings: ArchiverSettings) -> Engine:
    """The archiver's engine: pre-pinged connections, bounded connects, TCP keepalives.

    ``pool_pre_ping`` replaces a connection the server dropped (a PostgreSQL restart)
    before it is used, instead of failing the first batch after every outage. Keepalives
    make a connection to a vanished host fail in about 25 s instead of hanging on the
    kernel's two-hour default, so retries and heartbeats keep going.
    """
    return create_engine(
        settings.sqlalchemy_url(),
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=2,
        connect_args={
            "connect_timeout": settings.archiver_connect_timeout_seconds,
            "application_name": settings.service_name,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    )


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` means "PostgreSQL is not available right now": worth retrying.

    Connection failures, dropped connections, server shutdowns and serialisation or
    deadlock aborts are; a missing table, a permission problem or a value the column
    refuses are not, and retrying them would only hide a problem an operator must fix.
    """
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, exc.OperationalError | exc.InterfaceError)


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
    if isinstance(error, exc.ProgrammingError) and isinstance(error.orig, pg_errors.UndefinedTable):
        return DatabaseError(f"{what}: the table {TABLE_NAME!r} does not exist; {MIGRATE_HINT}")
    return DatabaseError(f"{what}: {describe_failure(error)}")


class ScoreStore:
    """Inserts batches of ``score_events`` rows, one transaction per batch."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, rows: Sequence[dict[str, Any]]) -> InsertResult:
        """Insert ``rows`` (skipping event ids already stored) and commit; raises the
        SQLAlchemy error on failure, leaving nothing of the batch behind."""
        if not rows:
            return InsertResult(0, 0)
        with self.engine.begin() as connection:
            inserted = len(connection.execute(_INSERT, list(rows)).all())
        return InsertResult(inserted, len(rows) - inserted)
