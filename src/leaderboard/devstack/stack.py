"""``Stack``: the three servers together, for the CLI (``up``/``down``/``status``) and tests.

Ports are checked first, then the servers come up in parallel (docs/local-stack.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from leaderboard.core.config import ENV_PREFIX
from leaderboard.core.logging import get_logger
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.kafka import KafkaServer
from leaderboard.devstack.postgres import PostgresServer
from leaderboard.devstack.redis import RedisServer
from leaderboard.devstack.server import Server, ServerStatus
from leaderboard.devstack.settings import DevstackSettings

log = get_logger(__name__)

T = TypeVar("T")


class Stack:
    """Kafka, Redis and PostgreSQL as configured by one ``DevstackSettings``."""

    def __init__(self, settings: DevstackSettings) -> None:
        self.settings = settings
        self.kafka = KafkaServer(settings)
        self.redis = RedisServer(settings)
        self.postgres = PostgresServer(settings)
        self.servers: list[Server] = [self.kafka, self.redis, self.postgres]
        self._check_distinct_ports()

    def up(self) -> None:
        """Start whatever is not running and wait until every server answers; idempotent."""
        for server in self.servers:
            server.check_ports()
        self._on_each(lambda server: server.up())
        log.info(
            "local stack is up",
            devstack_dir=str(self.settings.devstack_dir),
            **{server.name: server.address for server in self.servers},
        )

    def down(self) -> None:
        """Stop every server of ours that runs; their data stays in ``devstack_dir``."""
        self._on_each(lambda server: server.stop())
        log.info("local stack is down", devstack_dir=str(self.settings.devstack_dir))

    def status(self) -> list[ServerStatus]:
        """One status per server, each from a real request."""
        return self._on_each(lambda server: server.status())

    def healthy(self) -> bool:
        """True if every server runs and answers."""
        return all(status.healthy for status in self.status())

    def _on_each(self, action: Callable[[Server], T]) -> list[T]:
        """Run ``action`` on every server in parallel; report every failure, raise one."""
        with ThreadPoolExecutor(len(self.servers), thread_name_prefix="devstack") as pool:
            futures = [(server, pool.submit(action, server)) for server in self.servers]
        outcomes = [(server, future.exception()) for server, future in futures]
        failures = [(server, error) for server, error in outcomes if error is not None]
        if len(failures) > 1:  # one failure is reported by the caller; several, here
            for server, error in failures:
                log.error("server failed", server=server.name, error=str(error))
        if failures:
            unexpected = [error for _, error in failures if not isinstance(error, DevstackError)]
            if unexpected:
                raise unexpected[0]  # a bug, not a stack problem: keep its traceback
            if len(failures) == 1:
                raise failures[0][1]
            raise DevstackError("; ".join(f"{s.name}: {error}" for s, error in failures))
        return [future.result() for _, future in futures]

    def _check_distinct_ports(self) -> None:
        seen: dict[int, str] = {}
        for server in self.servers:
            for use in server.ports():
                variable = f"{ENV_PREFIX}{use.variable}"
                if use.port in seen:
                    raise DevstackError(
                        f"port {use.port} is configured twice, by {seen[use.port]} and "
                        f"{variable}: give each server its own port"
                    )
                seen[use.port] = variable
