"""Fixtures of the integration tests: the local stack, up once per test session.

``make test`` has already run ``make infra-up``, so ``Stack.up()`` only checks that each
server answers; run on its own, pytest brings the stack up itself.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient

from leaderboard.core.config import load_settings
from leaderboard.core.kafka import admin_config, ensure_topics, topic_specs
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack


@pytest.fixture(scope="session")
def stack() -> DevstackSettings:
    """Settings of the running local stack (brought up if needed)."""
    settings = load_settings(DevstackSettings)
    Stack(settings).up()
    return settings


@pytest.fixture
def pipeline(stack: DevstackSettings) -> DevstackSettings:
    """The stack's settings with topics and a Redis key prefix of this test's own.

    Services started with these settings (``tests.support.services.settings_env``) never
    read another test's events, and never leave events in the topics ``make run`` uses.
    """
    suffix = uuid.uuid4().hex[:10]
    settings = stack.model_copy(
        update={
            "topic_game_score": f"game-score-{suffix}",
            "topic_game_score_dlq": f"game-score-{suffix}.dlq",
            "topic_leaderboard_change": f"leaderboard-change-{suffix}",
            "topic_leaderboard": f"leaderboard-{suffix}",
            "redis_key_prefix": f"t{suffix}",
        }
    )
    ensure_topics(AdminClient(admin_config(settings)), topic_specs(settings))
    return settings
