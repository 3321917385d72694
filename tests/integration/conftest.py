"""Fixtures of the integration tests: the local stack, up once per test session.

``make test`` has already run ``make infra-up``, so ``Stack.up()`` only checks that each
server answers; run on its own, pytest brings the stack up itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import Engine, create_engine, text

from leaderboard.archiver.migrate import upgrade
from leaderboard.core.config import load_settings
from leaderboard.core.database import database_url
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from tests.support.pipeline import isolated_settings


@pytest.fixture(scope="session")
def stack() -> DevstackSettings:
    """Settings of the running local stack (brought up if needed)."""
    settings = load_settings(DevstackSettings)
    Stack(settings).up()
    return settings


@pytest.fixture
def pipeline(stack: DevstackSettings) -> DevstackSettings:
    """The stack's settings with topics and a Redis key prefix of this test's own."""
    return isolated_settings(stack)


@pytest.fixture
def redis(stack: DevstackSettings) -> Iterator[Redis]:
    """A client of the stack's Redis."""
    client = Redis(**stack.redis_client_kwargs())
    yield client
    client.close()


@pytest.fixture(scope="module")
def schema(stack: DevstackSettings) -> Iterator[str]:
    """A migrated PostgreSQL schema of the test module's own, dropped afterwards (a child
    process uses it through libpq's ``PGOPTIONS`` search_path)."""
    name = f"admin_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(database_url(stack))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    scoped = create_engine(database_url(stack), connect_args={"options": f"-c search_path={name}"})
    upgrade(scoped)
    scoped.dispose()
    yield name
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="module")
def db(stack: DevstackSettings, schema: str) -> Iterator[Engine]:
    """An engine on the module's schema."""
    engine = create_engine(
        database_url(stack), connect_args={"options": f"-c search_path={schema}"}
    )
    yield engine
    engine.dispose()
