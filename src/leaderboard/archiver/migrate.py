"""Schema migrations with Alembic, configured from code: no ``alembic.ini`` at runtime.

``leaderboard-migrate`` upgrades to the newest revision under an advisory lock (docs/services.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, Connection, Engine, exc, text

from leaderboard.archiver.schema import TABLE_NAME, VERSION_TABLE
from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.archiver.store import (
    MIGRATE_HINT,
    create_archive_engine,
    describe_failure,
)
from leaderboard.core.config import load_settings
from leaderboard.core.database import database_url
from leaderboard.core.errors import ConfigurationError, DatabaseError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION, EXIT_FAILED, EXIT_OK
from leaderboard.core.logging import configure_logging, get_logger

SCRIPT_LOCATION = Path(__file__).with_name("migrations")
#: The advisory lock every migrator takes (zlib.crc32(b"leaderboard.archiver.migrate")).
MIGRATION_LOCK_KEY = 3_956_605_797

# Named explicitly: run with `python -m`, __name__ would be "__main__".
log = get_logger("leaderboard.archiver.migrate")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, pointing at the migrations shipped in this package.

    With ``connection``, ``migrations/env.py`` migrates through it (and its transaction)
    instead of opening its own.
    """
    config = Config()
    # "%" would start a configparser interpolation: escape it in the path.
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # only if the versions folder were missing from the package
        raise DatabaseError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


@contextmanager
def locked_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction holding the migration lock (released at its end)."""
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        yield connection


def is_known(revision: str) -> bool:
    """Whether this code ships ``revision`` (False: it comes from newer code)."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to ``revision``; returns the revisions before and after.

    A database already at a revision this code does not ship (newer code migrated it:
    a rolling deploy or a rollback) is left alone with a warning, since migrations only
    ever add to the table; failing would block the rollback.
    """
    with locked_connection(engine) as connection:
        before = current_revision(connection)
        if before is not None and not is_known(before):
            log.warning(
                "database schema is newer than this code; leaving it as it is",
                revision=before,
                head=head_revision(),
            )
            return before, before
        command.upgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    if before == after:
        log.info("schema already up to date", revision=after)
    else:
        log.info("schema migrated", previous=before, revision=after)
    return before, after


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Downgrade to ``revision`` (``base`` drops everything); returns before and after."""
    with locked_connection(engine) as connection:
        before = current_revision(connection)
        command.downgrade(alembic_config(connection), revision)
        after = current_revision(connection)
    log.info("schema downgraded", previous=before, revision=after)
    return before, after


def check_schema(engine: Engine) -> str:
    """Return the database's revision if this code can write to it; else raise a
    ``DatabaseError`` telling the operator to migrate.

    A revision this code does not know is accepted with a warning: it comes from newer
    code during a rolling deploy, and migrations only ever add to the table.
    """
    with engine.connect() as connection:
        current = current_revision(connection)
    head = head_revision()
    if current == head:
        return current
    if current is None:
        raise DatabaseError(
            f"the archive database has no schema (no table {TABLE_NAME!r}): {MIGRATE_HINT}"
        )
    if not is_known(current):
        log.warning("database schema is newer than this archiver", revision=current, head=head)
        return current
    raise DatabaseError(
        f"the archive database schema is at revision {current} but this archiver needs "
        f"{head}: {MIGRATE_HINT}"
    )


def settings_url() -> URL:
    """The database URL from ``LEADERBOARD_POSTGRES_*`` (for ``env.py`` run by hand)."""
    return database_url(load_settings(ArchiverSettings))


class MigrateSettings(ArchiverSettings):
    """The archiver's settings, under the migration's own name on logs and connections."""

    service_name: ClassVar[str] = "archiver-migrate"


def settings_engine() -> Engine:
    """An engine from ``LEADERBOARD_POSTGRES_*`` (for ``env.py`` run by hand)."""
    return create_archive_engine(load_settings(ArchiverSettings))


def main(argv: Sequence[str] | None = None) -> int:
    """``leaderboard-migrate``: upgrade the archive database; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="leaderboard-migrate",
        description="Upgrade the archiver's PostgreSQL schema to the newest migration "
        "(idempotent). The database is the one LEADERBOARD_POSTGRES_* names.",
    )
    parser.add_argument("--revision", default="head", help="revision to upgrade to (default: head)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(MigrateSettings)
    except ConfigurationError as error:
        sys.stderr.write(f"{error}\n")
        return EXIT_BAD_CONFIGURATION
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    database = database_url(settings).render_as_string(hide_password=True)
    engine = create_archive_engine(settings)
    try:
        upgrade(engine, args.revision)
    except exc.SQLAlchemyError as error:
        log.error("migration failed", database=database, error=describe_failure(error))
        return EXIT_FAILED
    except (CommandError, DatabaseError) as error:
        log.error("migration failed", database=database, error=str(error))
        return EXIT_FAILED
    finally:
        engine.dispose()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
