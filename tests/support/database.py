"""PostgreSQL schemas of a test's own on the stack's shared server: services and engines
see only theirs through libpq's ``search_path`` option, so a test never touches the
tables of ``make run`` or of another test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text

from leaderboard.archiver.migrate import upgrade
from leaderboard.core.config import PostgresSettings
from leaderboard.core.database import database_url


@contextmanager
def own_schema(settings: PostgresSettings, prefix: str, *, migrated: bool = False) -> Iterator[str]:
    """A new schema named ``<prefix>_<random>`` (``migrated``: at the archiver's head
    revision, board definition tables included), dropped with its contents afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url(settings))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        if migrated:
            scoped = scoped_engine(settings, name)
            try:
                upgrade(scoped)
            finally:
                scoped.dispose()
        yield name
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def scoped_engine(settings: PostgresSettings, schema: str) -> Engine:
    """An engine whose connections see only ``schema``."""
    return create_engine(database_url(settings), connect_args={"options": schema_option(schema)})


def schema_env(schema: str) -> dict[str, str]:
    """The environment that points a service's PostgreSQL connections at ``schema``."""
    return {"PGOPTIONS": schema_option(schema)}


def schema_option(schema: str) -> str:
    return f"-c search_path={schema}"
