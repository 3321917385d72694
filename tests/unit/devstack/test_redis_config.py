"""Redis: the command line and the ACL file for a configured password."""

from __future__ import annotations

import hashlib
from pathlib import Path

from leaderboard.devstack.redis import acl_config, redis_command


def test_the_command_line_binds_loopback_and_persists() -> None:
    command = redis_command(
        Path("/usr/bin/redis-server"),
        config_file=None,
        host="127.0.0.1",
        port=16379,
        data_dir=Path("/stack/redis"),
    )
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options == {
        "--bind": "127.0.0.1",
        "--port": "16379",
        "--dir": "/stack/redis",
        "--appendonly": "yes",
        "--save": "",  # no RDB snapshots on top of the AOF, as in the chart's Redis
        "--protected-mode": "yes",
        "--daemonize": "no",
        "--set-proc-title": "no",
    }


def test_a_config_file_comes_first() -> None:
    command = redis_command(
        Path("/usr/bin/redis-server"),
        config_file=Path("/stack/redis/acl.conf"),
        host="127.0.0.1",
        port=6379,
        data_dir=Path("/stack/redis"),
    )
    assert command[:2] == ["/usr/bin/redis-server", "/stack/redis/acl.conf"]


def test_a_password_alone_protects_the_default_user() -> None:
    config = acl_config(None, "s3cret")
    assert "s3cret" not in config
    assert f"user default on #{hashlib.sha256(b's3cret').hexdigest()} ~* &* +@all" in config
    assert "user default off" not in config


def test_a_named_user_replaces_the_default_user() -> None:
    config = acl_config("app", "s3cret")
    assert "user default off" in config.splitlines()
    assert any(line.startswith("user app on #") for line in config.splitlines())
