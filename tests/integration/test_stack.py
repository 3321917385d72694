"""The running local stack serves what services need: Kafka with the project's topics
and consumer groups, Redis, and PostgreSQL as the app role."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from sqlalchemy import create_engine, text

from leaderboard.core.database import database_url
from leaderboard.core.kafka import admin_config, consumer_config, producer_config
from leaderboard.devstack.kafka import KAFKA_JAR, MAIN_CLASS
from leaderboard.devstack.process import read_cmdline
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from leaderboard.devstack.topics import topic_specs

pytestmark = pytest.mark.integration


def produce_one(settings: DevstackSettings, topic: str, key: bytes, value: bytes) -> Message:
    """Produce one message and return it as acknowledged by the broker."""
    producer = Producer(producer_config(settings))
    reports: list[tuple[KafkaError | None, Message]] = []
    producer.produce(topic, key=key, value=value, on_delivery=lambda e, m: reports.append((e, m)))
    assert producer.flush(30) == 0, "message not delivered within 30 s"
    [(error, message)] = reports
    assert error is None, error
    return message


def poll_for(consumer: Consumer, key: bytes, timeout: float = 60.0) -> Message:
    """Poll until the message with ``key`` arrives, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        assert message.error() is None, message.error()
        if message.key() == key:
            return message
    pytest.fail(f"message {key!r} not consumed within {timeout} s")


def test_message_round_trip_commits_its_offset_for_the_group(stack: DevstackSettings) -> None:
    run = uuid.uuid4().hex
    key, value = f"player-{run}".encode(), f"score-{run}".encode()
    sent = produce_one(stack, stack.topic_game_score, key, value)
    group = f"integration-{run}"

    consumer = Consumer(consumer_config(stack, group))
    try:
        consumer.subscribe([stack.topic_game_score])
        received = poll_for(consumer, key)
        assert received.value() == value
        assert (received.partition(), received.offset()) == (sent.partition(), sent.offset())
        consumer.store_offsets(message=received)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    # A new member of the same group sees the commit: the next offset to read.
    other = Consumer(consumer_config(stack, group))
    try:
        [committed] = other.committed(
            [TopicPartition(stack.topic_game_score, sent.partition())], timeout=30
        )
    finally:
        other.close()
    assert committed.error is None
    assert committed.offset == sent.offset() + 1


def test_topics_exist_with_their_layout(stack: DevstackSettings) -> None:
    admin = AdminClient(admin_config(stack))
    topics = admin.list_topics(timeout=30).topics
    for spec in topic_specs(stack):
        assert spec.name in topics, spec.name
        assert len(topics[spec.name].partitions) == spec.partitions, spec.name

    resource = ConfigResource(ResourceType.TOPIC, stack.topic_leaderboard)
    [future] = admin.describe_configs([resource], request_timeout=30).values()
    assert future.result(timeout=30)["cleanup.policy"].value == "compact"


def test_redis_answers(stack: DevstackSettings) -> None:
    key = f"integration:{uuid.uuid4().hex}"
    with redis.Redis(host=stack.redis_host, port=stack.redis_port, db=stack.redis_db) as client:
        assert client.set(key, "value", ex=60)
        assert client.get(key) == b"value"
        client.delete(key)


def test_postgres_answers_as_the_app_role(stack: DevstackSettings) -> None:
    engine = create_engine(database_url(stack))
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == stack.postgres_user
            conn.execute(text("CREATE TEMP TABLE integration_scores (player text, score int)"))
            conn.execute(
                text("INSERT INTO integration_scores VALUES (:player, :score)"),
                [{"player": "ada", "score": 3}, {"player": "bob", "score": 5}],
            )
            rows = conn.execute(
                text("SELECT player, score FROM integration_scores ORDER BY score DESC")
            ).all()
        assert [tuple(row) for row in rows] == [("bob", 5), ("ada", 3)]
    finally:
        engine.dispose()


def test_status_reports_every_server_healthy(stack: DevstackSettings) -> None:
    statuses = Stack(stack).status()
    assert [s.name for s in statuses] == ["kafka", "redis", "postgres"]
    assert all(s.healthy and s.running and s.pid for s in statuses), statuses


def test_kafka_runs_the_broker_main_class_of_version_4_3_1(stack: DevstackSettings) -> None:
    [kafka] = [s for s in Stack(stack).status() if s.name == "kafka"]
    assert kafka.pid is not None
    cmdline = read_cmdline(kafka.pid)
    assert cmdline is not None
    assert MAIN_CLASS == "kafka.Kafka"
    assert "kafka.Kafka" in cmdline
    classpath = cmdline[cmdline.index("-cp") + 1].split(":")
    kafka_jars = [Path(jar).name for jar in classpath if Path(jar).name.startswith("kafka_2.13-")]
    assert kafka_jars == [KAFKA_JAR] == ["kafka_2.13-4.3.1.jar"]
