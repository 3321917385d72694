"""PostgreSQL through SQLAlchemy and psycopg2, for the services that keep data there
(the archiver, the ingest service's admin API). Kept out of ``config`` so that the other
services never import SQLAlchemy."""

from __future__ import annotations

from sqlalchemy import URL, Engine, create_engine

from leaderboard.core.config import PostgresSettings

#: Bound on opening one connection (libpq ``connect_timeout``).
CONNECT_TIMEOUT_SECONDS = 5
#: PostgreSQL text cannot hold U+0000, which the contract allows in a display name: it is
#: stored as U+FFFD, the one change made to a value (a refused value would stall a batch).
NUL = "\x00"
NUL_REPLACEMENT = "\ufffd"


def without_nul(text: str) -> str:
    return text.replace(NUL, NUL_REPLACEMENT) if NUL in text else text


def database_url(settings: PostgresSettings) -> URL:
    """The SQLAlchemy URL for psycopg2; the password is quoted, never formatted by hand."""
    password = settings.postgres_password
    return URL.create(
        "postgresql+psycopg2",
        username=settings.postgres_user,
        password=password.get_secret_value() if password else None,
        host=settings.postgres_host,
        port=settings.postgres_port,
        database=settings.postgres_database,
    )


def create_postgres_engine(settings: PostgresSettings, *, pool_size: int) -> Engine:
    """An engine with pre-pinged connections, bounded connects and TCP keepalives.

    ``pool_pre_ping`` replaces a connection the server dropped (a PostgreSQL restart)
    before it is used, instead of failing the first request after every outage. Keepalives
    make a connection to a vanished host fail in about 25 s instead of hanging on the
    kernel's two-hour default, so retries and heartbeats keep going.
    """
    return create_engine(
        database_url(settings),
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=2,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": settings.service_name,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    )
