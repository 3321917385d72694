"""Fixtures of the integration tests: the local stack, up once per test session.

``make test`` has already run ``make infra-up``, so ``Stack.up()`` only checks that each
server answers; run on its own, pytest brings the stack up itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import Engine

from leaderboard.core.config import load_settings
from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from tests.support.database import own_schema, scoped_engine
from tests.support.pipeline import isolated_settings
from tests.support.redis_keys import delete_keys


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


@pytest.fixture
def keys(pipeline: DevstackSettings, redis: Redis) -> Iterator[RedisKeys]:
    """The key layout of the pipeline's Redis prefix; its keys are deleted afterwards."""
    keys = RedisKeys(pipeline.redis_key_prefix)
    yield keys
    delete_keys(redis, keys.prefix)


@pytest.fixture(scope="module")
def schema(stack: DevstackSettings) -> Iterator[str]:
    """A migrated PostgreSQL schema of the test module's own, dropped afterwards (a child
    process uses it through ``schema_env``)."""
    with own_schema(stack, "admin_test", migrated=True) as name:
        yield name


@pytest.fixture(scope="module")
def db(stack: DevstackSettings, schema: str) -> Iterator[Engine]:
    """An engine on the module's schema."""
    engine = scoped_engine(stack, schema)
    yield engine
    engine.dispose()
