"""Which PostgreSQL failures are an outage (retried) and which are not (reported)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg2
import pytest
from psycopg2 import errors as pg_errors
from sqlalchemy import exc

from leaderboard.archiver.store import (
    COLUMNS,
    copy_text,
    describe_failure,
    is_transient,
    permanent_failure,
)
from leaderboard.core.errors import DatabaseError


def wrap(kind: type[exc.DBAPIError], orig: Exception, invalidated: bool = False) -> exc.DBAPIError:
    return kind("INSERT INTO score_events ...", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "error",
    [
        wrap(exc.OperationalError, psycopg2.OperationalError("Connection refused")),
        wrap(exc.OperationalError, pg_errors.AdminShutdown("terminating connection")),
        wrap(exc.InterfaceError, psycopg2.InterfaceError("connection already closed")),
        wrap(exc.OperationalError, pg_errors.SerializationFailure("could not serialize")),
        wrap(exc.DBAPIError, psycopg2.DatabaseError("server closed"), invalidated=True),
    ],
    ids=["refused", "admin-shutdown", "closed", "serialization", "invalidated"],
)
def test_outages_are_transient(error: exc.DBAPIError) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        wrap(exc.ProgrammingError, pg_errors.UndefinedTable("relation does not exist")),
        wrap(exc.ProgrammingError, pg_errors.InsufficientPrivilege("permission denied")),
        wrap(exc.DataError, pg_errors.StringDataRightTruncation("value too long")),
        wrap(exc.IntegrityError, pg_errors.NotNullViolation("null value")),
        ValueError("not a database error"),
    ],
    ids=["missing-table", "permission", "too-long", "not-null", "other"],
)
def test_problems_an_operator_must_fix_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_a_failure_is_described_by_the_drivers_first_line_without_the_sql() -> None:
    error = wrap(
        exc.OperationalError,
        psycopg2.OperationalError("server closed the connection\n\tThis probably means..."),
    )
    assert describe_failure(error) == "OperationalError: server closed the connection"


def test_a_missing_table_tells_the_operator_to_run_the_migration() -> None:
    error = permanent_failure(
        wrap(exc.ProgrammingError, pg_errors.UndefinedTable("relation does not exist")),
        "insert a batch",
    )
    assert isinstance(error, DatabaseError)
    assert str(error).startswith("insert a batch: the table 'score_events' does not exist")
    assert "python -m leaderboard.archiver.migrate" in str(error)


def test_copy_text_escapes_what_copy_would_misread() -> None:
    event_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = {
        "event_id": event_id,
        "leaderboard": "global",
        "player_id": "p1",
        "display_name": "a\tb\nc\rd\\e",
        "score": 42,
        "occurred_at": at,
        "version": 1,
        "kafka_partition": 2,
        "kafka_offset": 99,
    }
    assert tuple(row) == COLUMNS
    assert copy_text([row, row | {"display_name": None}]) == (
        f"{event_id}\tglobal\tp1\ta\\tb\\nc\\rd\\\\e\t42\t2026-01-02T03:04:05+00:00\t1\t2\t99\n"
        f"{event_id}\tglobal\tp1\t\\N\t42\t2026-01-02T03:04:05+00:00\t1\t2\t99\n"
    )


def test_driver_errors_from_copy_are_classified_too() -> None:
    assert is_transient(psycopg2.OperationalError("server closed the connection"))
    assert not is_transient(pg_errors.StringDataRightTruncation("value too long"))
    error = permanent_failure(pg_errors.UndefinedTable("relation does not exist"), "copy")
    assert "python -m leaderboard.archiver.migrate" in str(error)
