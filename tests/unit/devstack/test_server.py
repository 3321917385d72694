"""What every server shares: loopback checks, status lines, port conflicts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from leaderboard.core.config import load_settings
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.server import ServerStatus, loopback_host
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack


def test_loopback_hosts_are_accepted() -> None:
    assert loopback_host("localhost", "REDIS_HOST") == "127.0.0.1"
    assert loopback_host("127.0.0.1", "REDIS_HOST") == "127.0.0.1"
    assert loopback_host("127.0.0.2", "REDIS_HOST") == "127.0.0.2"


@pytest.mark.parametrize("host", ["redis.internal", "10.0.0.5", "0.0.0.0", "::1"])
def test_other_hosts_are_refused_naming_the_variable(host: str) -> None:
    with pytest.raises(DevstackError, match="LEADERBOARD_REDIS_HOST"):
        loopback_host(host, "REDIS_HOST")


def test_status_lines() -> None:
    log = Path("/stack/logs/redis.log")
    healthy = ServerStatus("redis", True, True, 42, "127.0.0.1:6379", log)
    assert healthy.line().split() == [
        "redis",
        "running",
        "pid",
        "42",
        "127.0.0.1:6379",
        "log",
        str(log),
    ]
    stopped = ServerStatus("redis", False, False, None, "127.0.0.1:6379", log)
    assert stopped.line().split()[:3] == ["redis", "stopped", "pid"]
    sick = ServerStatus("redis", True, False, 42, "127.0.0.1:6379", log, "not answering: x")
    assert sick.line().split()[1] == "unhealthy"
    assert sick.line().endswith("(not answering: x)")
    multi = ServerStatus("pg", True, False, 7, "127.0.0.1:5432", log, "failed:\n  no password\n")
    assert multi.line().endswith("(failed: no password)")
    assert "\n" not in multi.line()


def test_two_servers_on_one_port_are_refused(tmp_path: Path) -> None:
    settings = load_settings(
        DevstackSettings, devstack_dir=tmp_path, redis_port=15432, postgres_port=15432
    )
    with pytest.raises(DevstackError, match="LEADERBOARD_REDIS_PORT and LEADERBOARD_POSTGRES_PORT"):
        Stack(settings)


def test_a_foreign_listener_is_named_with_its_variable(tmp_path: Path) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        settings = load_settings(DevstackSettings, devstack_dir=tmp_path, postgres_port=port)
        stack = Stack(settings)
        with pytest.raises(DevstackError, match=rf"port {port} .*LEADERBOARD_POSTGRES_PORT"):
            stack.postgres.check_ports()
        status = stack.postgres.status()
        assert not status.running
        assert status.detail == f"port {port} is used by another process"
