"""The ingest admin API on the real servers: the keys of a test module, the environment
of its ingest process, a compacted topic of its own, and what the topics and the audit
table hold afterwards. (The migrated schema per module: tests/integration/conftest.py.)"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, text

from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.kafka import admin_config, consumer_config
from leaderboard.devstack.topics import TopicSpec, ensure_topics
from tests.support.database import schema_env
from tests.support.services import ServiceProcess, settings_env

ADMIN_KEY = secrets.token_urlsafe(24)
SCORE_KEY = secrets.token_urlsafe(24)
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCORES = {"Authorization": f"Bearer {SCORE_KEY}"}


def new_topic(settings: LeaderboardSettings) -> str:
    """A compacted definitions topic of the caller's own (created)."""
    topic = f"leaderboard-definitions-admin-{uuid.uuid4().hex[:10]}"
    ensure_topics(
        AdminClient(admin_config(settings)),
        [TopicSpec(topic, 1, 1, {"cleanup.policy": "compact"})],
    )
    return topic


def ingest_env(
    settings: LeaderboardSettings, schema: str, topic: str, **extra: str
) -> dict[str, str]:
    """An ingest process on ``settings``' servers, topics and Redis key prefix, writing
    definitions to ``topic`` and to the tables of ``schema``, with ``ADMIN_KEY`` and
    ``SCORE_KEY``."""
    return {
        **settings_env(settings),
        "LEADERBOARD_TOPIC_LEADERBOARD_DEFINITIONS": topic,
        "LEADERBOARD_INGEST_API_KEYS": f"game:{SCORE_KEY}",
        "LEADERBOARD_INGEST_ADMIN_KEYS": f"ops:{ADMIN_KEY}",
        "LEADERBOARD_INGEST_REQUEST_TIMEOUT_SECONDS": "3",
        "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS": "5",
        **schema_env(schema),
        **extra,
    }


@contextmanager
def running_ingest(env: dict[str, str], workdir: Path) -> Iterator[httpx2.Client]:
    """An ingest process with ``env`` (``ingest_env``), ready, and a client of its API."""
    service = ServiceProcess("ingest", env, workdir)
    service.start().wait_ready()
    try:
        with httpx2.Client(base_url=service.base_url, timeout=15) as http:
            yield http
    finally:
        service.close()


def topic_records(settings: LeaderboardSettings, topic: str) -> list[tuple[str, bytes | None]]:
    """Every (key, value) on the one-partition topic, from the beginning to its end."""
    consumer = Consumer(consumer_config(settings, f"admin-test-{uuid.uuid4().hex}"))
    try:
        partition = TopicPartition(topic, 0, 0)
        _, high = consumer.get_watermark_offsets(partition, timeout=30)
        consumer.assign([partition])
        records: list[tuple[str, bytes | None]] = []
        deadline = time.monotonic() + 30
        while high and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            records.append((message.key().decode(), message.value()))
            if message.offset() >= high - 1:
                break
        return records
    finally:
        consumer.close()


def records_of(settings: LeaderboardSettings, topic: str, board_id: str) -> list[bytes | None]:
    return [value for key, value in topic_records(settings, topic) if key == board_id]


def audit(db: Engine, board_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(actor, action, detail) of the board's audit rows, oldest first."""
    return [(row.actor, row.action, row.detail) for row in audit_rows(db, board_id)]


def audit_rows(db: Engine, board_id: str) -> list[Any]:
    """The board's whole audit rows, oldest first."""
    with db.connect() as connection:
        return list(
            connection.execute(
                text("SELECT * FROM admin_audit WHERE leaderboard = :id ORDER BY id"),
                {"id": board_id},
            )
        )
