"""Alembic's environment for the archiver's schema, configured from code, not alembic.ini.

Uses the connection ``migrate`` hands over, else one built from ``LEADERBOARD_POSTGRES_*``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from leaderboard.archiver.schema import VERSION_TABLE, metadata


def _configure(**kwargs: Any) -> None:  # alembic's options, passed through
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    """``--sql`` mode: print the DDL for a DBA instead of running it."""
    from leaderboard.archiver.migrate import settings_url

    _configure(url=settings_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    from leaderboard.archiver.migrate import locked_connection, settings_engine

    engine = settings_engine()
    try:
        with locked_connection(engine) as connection:
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
