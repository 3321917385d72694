"""A whole pipeline for a test: per-test topics and Redis prefix, real services.

``isolated_settings`` gives the stack's settings with topics and a Redis key prefix of
the test's own (created here), so services started with them never read another test's
events nor leave any in the topics ``make run`` uses; ``Services`` starts
``python -m leaderboard.<service>`` children configured for them, ``post_scores``
submits events through the real ingest API, ``define_board`` defines a board through its
admin API, ``publish_definition`` puts a definition straight on the definitions topic, and
``send_change_notice`` tells the publisher and gateways a board changed, as the ranker does,
``read_dead_letters`` waits for what the ranker dead-lettered and
``period_closed_messages`` reads what the closer announced.
"""

from __future__ import annotations

import secrets
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.definitions import definition_key
from leaderboard.core.events import ChangeNotice, LeaderboardChange, PeriodClosed
from leaderboard.core.kafka import admin_config, consumer_config, producer_config
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import ensure_topics, topic_specs
from tests.support.database import schema_env
from tests.support.services import ServiceProcess, settings_env, wait_for


def isolated_settings(stack: DevstackSettings) -> DevstackSettings:
    """The stack's settings with fresh topics and Redis key prefix (topics created)."""
    suffix = uuid.uuid4().hex[:10]
    settings = stack.model_copy(
        update={
            "topic_game_score": f"game-score-{suffix}",
            "topic_game_score_dlq": f"game-score-{suffix}.dlq",
            "topic_leaderboard_change": f"leaderboard-change-{suffix}",
            "topic_leaderboard": f"leaderboard-{suffix}",
            "topic_leaderboard_definitions": f"leaderboard-definitions-{suffix}",
            "topic_player_erasures": f"player-erasures-{suffix}",
            "topic_period_closed": f"leaderboard-period-closed-{suffix}",
            "redis_key_prefix": f"t{suffix}",
        }
    )
    ensure_topics(AdminClient(admin_config(settings)), topic_specs(settings))
    return settings


class Services:
    """Starts services as children for one test; ``close()`` kills what is still running."""

    def __init__(self, settings: DevstackSettings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []
        self.api_key = secrets.token_urlsafe(24)
        self.admin_key = secrets.token_urlsafe(24)

    def start(
        self,
        service: str,
        port: int | None = None,
        batch_size: int | None = None,
        **extra: str,
    ) -> ServiceProcess:
        suffix = self.settings.redis_key_prefix
        env = settings_env(self.settings) | {
            f"LEADERBOARD_{service.upper()}_GROUP_ID": f"{service}-{suffix}",
            "LEADERBOARD_KAFKA_CONSUMER_CONFIG": '{"session.timeout.ms": 6000}',
            "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS": "5",
            **extra,
        }
        process = ServiceProcess(
            service, env, self.log_dir, port=port, batch_size=batch_size
        ).start()
        self.started.append(process)
        return process

    def scoring(self, **publisher_env: str) -> ServiceProcess:
        """Ranker, publisher and ingest API; returns the ingest process (ready)."""
        self.start("ranker")
        self.start("publisher", **publisher_env)
        return self.ingest()

    def ingest(self, admin_schema: str | None = None, **extra: str) -> ServiceProcess:
        """The ingest API (ready), taking ``api_key``; with ``admin_schema`` also its admin
        API, taking ``admin_key`` and storing definitions in that PostgreSQL schema
        (``tests.support.database.own_schema(..., migrated=True)``)."""
        env = {"LEADERBOARD_INGEST_API_KEYS": f"test:{self.api_key}", **extra}
        if admin_schema is not None:
            env |= {"LEADERBOARD_INGEST_ADMIN_KEYS": f"ops:{self.admin_key}"}
            env |= schema_env(admin_schema)
        return self.start("ingest", **env).wait_ready()

    def gateway(self, port: int | None = None, **extra: str) -> ServiceProcess:
        """A gateway process (not waited for)."""
        return self.start("gateway", port=port, **extra)

    def close(self) -> None:
        for process in self.started:
            process.close()


def post_scores(ingest: ServiceProcess, api_key: str, events: list[dict]) -> None:
    """Submit events through the ingest API (202 expected)."""
    request = urllib.request.Request(
        f"{ingest.base_url}/api/scores",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def define_board(ingest: ServiceProcess, admin_key: str, board: str, spec: dict) -> dict:
    """Create ``board`` with ``spec`` through the admin API (201 expected); the stored
    definition, already on the definitions topic."""
    request = urllib.request.Request(
        f"{ingest.base_url}/api/admin/leaderboards/{board}",
        data=orjson.dumps(spec),
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        stored: dict = orjson.loads(response.read())
    return stored


def scores(board: str, totals: dict[str, int], names: dict[str, str] | None = None) -> list[dict]:
    """One event per player bringing them ``totals[player]`` points (for a fresh board)."""
    names = names or {}
    return [
        {"leaderboard": board, "player_id": player, "score": score}
        | ({"display_name": names[player]} if player in names else {})
        for player, score in totals.items()
    ]


def publish_definition(
    settings: LeaderboardSettings, board: str, revision: int = 1, **spec: Any
) -> BoardDefinition:
    """Produce a definition of ``board`` (``spec``: ``BoardSpec`` fields, a title at least)
    to the definitions topic, acknowledged; what the admin API does after storing one."""
    definition = BoardDefinition.model_validate(
        {"id": board, "revision": revision, "updated_at": datetime.now(UTC)} | spec
    )
    producer = Producer(producer_config(settings))
    producer.produce(
        settings.topic_leaderboard_definitions,
        key=definition_key(board),
        value=definition.to_json(),
    )
    assert producer.flush(30) == 0, "the definition was not acknowledged"
    return definition


def send_change_notice(settings: LeaderboardSettings, board: str) -> None:
    """The change notice the ranker sends after writing ``board``'s standings, acknowledged."""
    now = datetime.now(UTC)
    notice = ChangeNotice(
        changes=[LeaderboardChange(leaderboard=board, newest_event_at=now)], sent_at=now
    )
    producer = Producer(producer_config(settings))
    producer.produce(settings.topic_leaderboard_change, value=notice.to_json())
    assert producer.flush(30) == 0, "the change notice was not acknowledged"


def read_dead_letters(pipeline: LeaderboardSettings, count: int) -> list:
    """The first ``count`` messages of the test's dead-letter topic (waits for them)."""
    dlq = Consumer(consumer_config(pipeline, f"dlq-reader-{uuid.uuid4().hex[:6]}"))
    dlq.subscribe([pipeline.topic_game_score_dlq])
    dead: list = []
    try:
        wait_for(
            lambda: (
                dead.extend(m for m in dlq.consume(10, 0.5) if not m.error()) or len(dead) >= count
            ),
            60,
            f"{count} dead letters",
        )
    finally:
        dlq.close()
    return dead


def period_closed_messages(settings: LeaderboardSettings) -> list[PeriodClosed]:
    """Every committed message of the test's period-closed topic (one partition)."""
    consumer = Consumer(consumer_config(settings, f"closed-reader-{uuid.uuid4().hex[:6]}"))
    topic = settings.topic_period_closed
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        found: list[PeriodClosed] = []
        deadline = time.monotonic() + 30
        # Read-committed positions move past transaction markers to the end.
        while consumer.position([TopicPartition(topic, 0)])[0].offset < high:
            assert time.monotonic() < deadline, "reading the period-closed topic timed out"
            for message in consumer.consume(100, 1.0):
                assert message.error() is None
                found.append(PeriodClosed.model_validate_json(message.value() or b""))
        return found
    finally:
        consumer.close()
