"""The Kafka broker's configuration, cluster id and bootstrap address, as rendered."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from leaderboard.core.config import load_settings
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.kafka import (
    KafkaServer,
    bootstrap_address,
    new_cluster_id,
    render_properties,
    server_properties,
)
from leaderboard.devstack.settings import DevstackSettings


def properties(**overrides: object) -> dict[str, str]:
    values: dict[str, object] = {
        "listen_host": "127.0.0.1",
        "advertised_host": "localhost",
        "port": 19092,
        "controller_port": 19093,
        "log_dir": Path("/data/kafka"),
    }
    return server_properties(**(values | overrides))  # type: ignore[arg-type]


def test_one_combined_kraft_node_on_loopback() -> None:
    config = properties()
    assert config["process.roles"] == "broker,controller"
    assert config["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert config["advertised.listeners"] == "PLAINTEXT://localhost:19092"
    assert config["controller.listener.names"] == "CONTROLLER"
    assert config["log.dirs"] == "/data/kafka"


def test_single_broker_settings() -> None:
    config = properties()
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert config[key] == "1", key
    assert config["group.initial.rebalance.delay.ms"] == "0"
    assert config["auto.create.topics.enable"] == "false"


def test_rendering_escapes_what_java_properties_would_mangle() -> None:
    text = render_properties({"log.dirs": "/tmp/données\\x", "node.id": "1"})
    lines = text.splitlines()
    assert lines[0].startswith("#")
    assert "log.dirs=/tmp/donn\\u00e9es\\\\x" in lines
    assert "node.id=1" in lines
    assert text.isascii()


def test_cluster_ids_look_like_kafkas() -> None:
    for _ in range(200):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_bootstrap_address_is_one_host_and_port() -> None:
    assert bootstrap_address("127.0.0.1:9092") == ("127.0.0.1", 9092)
    assert bootstrap_address(" localhost:19092 ") == ("localhost", 19092)
    with pytest.raises(DevstackError, match="exactly one"):
        bootstrap_address("127.0.0.1:9092,127.0.0.1:9093")


def test_a_non_loopback_broker_address_is_refused(tmp_path: Path) -> None:
    settings = load_settings(
        DevstackSettings, devstack_dir=tmp_path, kafka_bootstrap_servers="kafka.internal:9092"
    )
    with pytest.raises(DevstackError, match="LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS"):
        KafkaServer(settings)


def test_the_command_runs_the_broker_main_class_with_our_config(tmp_path: Path) -> None:
    settings = load_settings(
        DevstackSettings, devstack_dir=tmp_path / "stack", devstack_cache_dir=tmp_path / "cache"
    )
    kafka = KafkaServer(settings)
    kafka.libs_dir.mkdir(parents=True)
    for jar in ("kafka_2.13-4.3.1.jar", "kafka-clients-4.3.1.jar"):
        (kafka.libs_dir / jar).touch()
    command = kafka.command()
    assert command[-2:] == ["kafka.Kafka", str(tmp_path / "stack" / "kafka" / "server.properties")]
    assert "-Xmx512m" in command
    classpath = command[command.index("-cp") + 1].split(":")
    assert [Path(jar).name for jar in classpath] == [
        "kafka-clients-4.3.1.jar",
        "kafka_2.13-4.3.1.jar",
    ]
    assert kafka.matcher().matches(command)
