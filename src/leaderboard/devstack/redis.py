"""The Redis server of the stack: Debian's ``redis-server``, run in the foreground by us.

Every setting is on the command line, none from ``/etc`` (docs/local-stack.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import redis

from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.packages import INSTALL_TIMEOUT_SECONDS, ensure_package, which
from leaderboard.devstack.process import CommandMatcher
from leaderboard.devstack.server import PortUse, Server, loopback_host
from leaderboard.devstack.settings import DevstackSettings


def acl_config(username: str | None, password: str) -> str:
    """A Redis config granting ``username`` (or the default user) everything, by password."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    lines = ["# Written by leaderboard.devstack on every start; edits are overwritten."]
    if username and username != "default":
        # Only the configured user may connect; the password-less default user is off.
        lines.append("user default off")
    lines.append(f"user {username or 'default'} on #{digest} ~* &* +@all")
    return "\n".join(lines) + "\n"


class RedisServer(Server):
    """``redis-server`` on loopback with persistent append-only data."""

    name = "redis"

    def __init__(self, settings: DevstackSettings) -> None:
        if settings.redis_ssl:
            raise DevstackError("the local Redis does not speak TLS: unset LEADERBOARD_REDIS_SSL")
        self._bind_host = loopback_host(settings.redis_host, "REDIS_HOST")
        home = settings.devstack_dir / self.name
        self.acl_file = home / "devstack-acl.conf"
        self._binary: Path | None = None
        super().__init__(settings)

    @property
    def bind_host(self) -> str:
        return self._bind_host

    @property
    def address(self) -> str:
        return f"{self.settings.redis_host}:{self.settings.redis_port}"

    def ports(self) -> list[PortUse]:
        return [PortUse(self.settings.redis_port, "REDIS_PORT")]

    def matcher(self) -> CommandMatcher:
        return CommandMatcher("redis-server", (str(self.home),))

    def prepare(self) -> None:
        self._binary = ensure_package(
            lambda: which("redis-server"),
            "redis-server",
            what="Redis (redis-server)",
            log_file=self.settings.logs_dir / "apt.log",
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        self.home.mkdir(parents=True, exist_ok=True)
        password = self.settings.redis_password
        if password is None:
            self.acl_file.unlink(missing_ok=True)
            return
        self.acl_file.unlink(missing_ok=True)
        descriptor = os.open(self.acl_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(acl_config(self.settings.redis_username, password.get_secret_value()))

    def command(self) -> list[str]:
        binary = self._binary or which("redis-server")
        if binary is None:
            raise DevstackError("redis-server is not installed")
        return redis_command(
            binary,
            config_file=self.acl_file if self.acl_file.is_file() else None,
            host=self.bind_host,
            port=self.settings.redis_port,
            data_dir=self.home,
        )

    def probe(self) -> None:
        password = self.settings.redis_password
        with redis.Redis(
            host=self.settings.redis_host,
            port=self.settings.redis_port,
            db=self.settings.redis_db,
            username=self.settings.redis_username,
            password=password.get_secret_value() if password else None,
            socket_connect_timeout=2,
            socket_timeout=2,
        ) as client:
            if not client.ping():
                raise DevstackError("PING was not answered with PONG")


def redis_command(
    binary: Path, *, config_file: Path | None, host: str, port: int, data_dir: Path
) -> list[str]:
    """The foreground ``redis-server`` command line of the stack."""
    return [
        str(binary),
        # The config file, if any, must be the first argument; options after it override.
        *([str(config_file)] if config_file else []),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        # Persistence as the chart's Bitnami Redis has it: the append-only file, and no
        # RDB snapshots on top (each one forks a copy of the whole dataset mid-load).
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
        # Redis rewrites its command line to a title by default; keeping the real one lets
        # `/proc/<pid>/cmdline` prove the process is this stack's server.
        "--set-proc-title",
        "no",
    ]
