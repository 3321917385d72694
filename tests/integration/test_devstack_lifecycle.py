"""A second, isolated stack: brought up from nothing in a temporary folder on other ports
(sharing only the jar cache), restarted with its data intact, and refusing a port that
something else holds."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from sqlalchemy import create_engine, text

from leaderboard.core.config import load_settings
from leaderboard.core.database import database_url
from leaderboard.core.kafka import admin_config, consumer_config, producer_config
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.process import port_accepts, read_cmdline
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from leaderboard.devstack.topics import topic_specs
from tests.support.services import free_ports

pytestmark = pytest.mark.integration


def free_port_pair() -> int:
    """A free loopback port whose successor is free too (Kafka's broker and controller)."""
    for _ in range(100):
        port = free_ports(1)[0]
        with socket.socket() as successor:
            try:
                successor.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def isolated_settings(root: Path, cache_dir: Path, **overrides: Any) -> DevstackSettings:
    """A stack of its own under ``root``, on free ports, sharing the jar cache."""
    kafka = free_port_pair()
    redis_port, postgres = free_ports(2)
    values: dict[str, Any] = {
        "devstack_dir": root / "devstack",
        "devstack_cache_dir": cache_dir,
        "kafka_bootstrap_servers": f"127.0.0.1:{kafka}",
        "redis_host": "127.0.0.1",
        "redis_port": redis_port,
        "postgres_host": "127.0.0.1",
        "postgres_port": postgres,
    }
    return load_settings(DevstackSettings, **(values | overrides))


def pids(stack: Stack) -> dict[str, int | None]:
    return {status.name: status.pid for status in stack.status()}


def all_ports(settings: DevstackSettings) -> list[int]:
    return [
        int(settings.kafka_bootstrap_servers.rpartition(":")[2]),
        int(settings.kafka_bootstrap_servers.rpartition(":")[2]) + 1,  # the controller
        settings.redis_port,
        settings.postgres_port,
    ]


@pytest.fixture(scope="module")
def isolated(stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second stack brought up from an empty folder; stopped at the end, even on failure."""
    settings = isolated_settings(tmp_path_factory.mktemp("isolated"), stack.downloads_dir)
    assert not settings.devstack_dir.exists()
    second = Stack(settings)
    try:
        second.up()
        yield second
    finally:
        second.down()


def test_a_stack_comes_up_from_nothing(isolated: Stack, stack: DevstackSettings) -> None:
    statuses = isolated.status()
    assert all(s.healthy for s in statuses), statuses
    # Its own processes, not the main stack's.
    assert set(pids(isolated).values()).isdisjoint(pids(Stack(stack)).values())
    topics = AdminClient(admin_config(isolated.settings)).list_topics(timeout=30).topics
    assert {spec.name for spec in topic_specs(isolated.settings)} <= set(topics)


def test_up_on_a_running_stack_keeps_the_same_processes(isolated: Stack) -> None:
    before = pids(isolated)
    assert all(before.values())
    isolated.up()
    assert pids(isolated) == before


def test_data_survives_down_and_up(isolated: Stack) -> None:
    settings = isolated.settings
    run = uuid.uuid4().hex
    values = {f"survivor-{run}-{i}".encode() for i in range(5)}
    produce_values(settings, values)
    engine = create_engine(database_url(settings))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE survivors (name text PRIMARY KEY)"))
            conn.execute(text("INSERT INTO survivors VALUES (:name)"), [{"name": run}])
    finally:
        engine.dispose()
    with redis.Redis(host=settings.redis_host, port=settings.redis_port) as client:
        client.set("survivor", run)

    before = pids(isolated)
    isolated.down()
    for pid in before.values():
        assert pid is not None
        assert read_cmdline(pid) is None, f"pid {pid} still runs"
    assert not any(s.running for s in isolated.status())
    for port in all_ports(settings):
        assert not port_accepts("127.0.0.1", port), f"port {port} still open"

    isolated.up()
    assert all(s.healthy for s in isolated.status())
    assert {s.name for s in topic_specs(settings)} <= set(
        AdminClient(admin_config(settings)).list_topics(timeout=30).topics
    )
    assert consume_values(settings, len(values), prefix=f"survivor-{run}-".encode()) == values
    engine = create_engine(database_url(settings))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM survivors")).scalars().all() == [run]
    finally:
        engine.dispose()
    with redis.Redis(host=settings.redis_host, port=settings.redis_port) as client:
        assert client.get("survivor") == run.encode()


def produce_values(settings: DevstackSettings, values: set[bytes]) -> None:
    """Produce each value (as its own key) to ``game-score`` and wait for the acks."""
    producer = Producer(producer_config(settings))
    for value in values:
        producer.produce(settings.topic_game_score, key=value, value=value)
    assert producer.flush(30) == 0


def consume_values(
    settings: DevstackSettings, count: int, prefix: bytes, timeout: float = 60.0
) -> set[bytes]:
    """Read ``game-score`` from the beginning with a new group until ``count`` values
    starting with ``prefix`` arrived, or ``timeout`` seconds passed."""
    consumer = Consumer(consumer_config(settings, f"survivor-check-{uuid.uuid4().hex}"))
    found: set[bytes] = set()
    try:
        consumer.subscribe([settings.topic_game_score])
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            value = message.value()
            if value is not None and value.startswith(prefix):
                found.add(value)
    finally:
        consumer.close()
    return found


def test_a_port_held_by_another_process_fails_naming_it(
    stack: DevstackSettings, tmp_path: Path
) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        settings = isolated_settings(tmp_path, stack.downloads_dir, redis_port=port)
        blocked = Stack(settings)
        try:
            with pytest.raises(DevstackError, match=rf"port {port}\b.*LEADERBOARD_REDIS_PORT"):
                blocked.up()
            # It failed before starting anything.
            assert not any(s.running for s in blocked.status())
        finally:
            blocked.down()
