"""The definitions feed on the stack's Kafka: catch-up to the compacted state, a change seen
within 2 seconds, a clean stop. The topic is the test's own (three partitions, compacted)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import CHECK, BoardRegistry, DefinitionFeed, definition_key
from leaderboard.core.kafka import admin_config, producer_config
from leaderboard.core.probes import Health
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import TopicSpec, ensure_topics
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

#: What the architecture promises between a produced definition and every service.
PROPAGATION_SECONDS = 2.0


@pytest.fixture
def settings(stack: DevstackSettings) -> Iterator[DevstackSettings]:
    """The stack's settings with a compacted definitions topic of the test's own."""
    topic = f"leaderboard-definitions-{uuid.uuid4().hex[:10]}"
    settings = stack.model_copy(update={"topic_leaderboard_definitions": topic})
    admin = AdminClient(admin_config(settings))
    ensure_topics(admin, [TopicSpec(topic, 3, 1, {"cleanup.policy": "compact"})])
    yield settings
    for future in admin.delete_topics([topic]).values():
        future.result(timeout=30)


@pytest.fixture
def producer(settings: DevstackSettings) -> Iterator[Producer]:
    producer = Producer(producer_config(settings))
    yield producer
    producer.close()


def definition(board: str, revision: int) -> BoardDefinition:
    return BoardDefinition(
        id=board,
        title=f"{board} r{revision}",
        revision=revision,
        updated_at=datetime.now(UTC),
    )


def send(producer: Producer, topic: str, key: str, value: bytes | None) -> None:
    producer.produce(topic, key=definition_key(key), value=value)
    assert producer.flush(10) == 0


def test_the_feed_holds_the_compacted_state_then_follows_the_topic(
    settings: DevstackSettings, producer: Producer
) -> None:
    topic = settings.topic_leaderboard_definitions
    for board, revision in [("weekly", 1), ("daily", 1), ("weekly", 2), ("gone", 3)]:
        send(producer, topic, board, definition(board, revision).to_json())
    send(producer, topic, "gone", None)
    send(producer, topic, "weekly", definition("weekly", 1).to_json())  # a stale copy
    send(producer, topic, "daily", b"not a definition")

    health = Health()
    registry = BoardRegistry()
    feed = DefinitionFeed(settings, registry, health)
    feed.start()
    try:
        assert feed.wait_caught_up(30)
        assert [(d.id, d.revision) for d in registry.all()] == [("daily", 1), ("weekly", 2)]
        ok, body = health.readiness()
        assert ok, body
        assert body["checks"][CHECK]["detail"] == f"2 board definitions from {topic!r}"

        send(producer, topic, "monthly", definition("monthly", 1).to_json())
        wait_for(lambda: registry.get("monthly"), PROPAGATION_SECONDS, "the new definition")
        send(producer, topic, "weekly", None)
        wait_for(lambda: registry.get("weekly") is None, PROPAGATION_SECONDS, "the tombstone")
        assert [d.id for d in registry.all()] == ["daily", "monthly"]
    finally:
        assert feed.stop(10)
    assert health.liveness()[0]


def test_an_empty_topic_is_caught_up_at_once(settings: DevstackSettings) -> None:
    feed = DefinitionFeed(settings, BoardRegistry(), Health())
    feed.start()
    try:
        assert feed.wait_caught_up(30)
    finally:
        assert feed.stop(10)
