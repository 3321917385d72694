"""A WebSocket client of a gateway process: open a board's socket and read its messages
(protocol 1, docs/api.md) with deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from websockets.sync.client import ClientConnection, connect

from tests.support.services import ServiceProcess


def open_client(gateway: ServiceProcess, board: str, query: str = "") -> ClientConnection:
    url = f"ws://127.0.0.1:{gateway.port}/ws/leaderboards/{board}{query}"
    return connect(url, proxy=None, open_timeout=10, max_size=4 * 1024 * 1024)


def receive(client: ClientConnection, timeout: float = 20.0) -> dict:
    return orjson.loads(client.recv(timeout=timeout))


def next_snapshot(client: ClientConnection, timeout: float = 20.0) -> dict:
    """The next ``snapshot`` message (others are skipped)."""
    return next_of(client, "snapshot", timeout)


def next_player(client: ClientConnection, timeout: float = 20.0) -> dict:
    """The next ``player`` message (others are skipped)."""
    return next_of(client, "player", timeout)


def next_of(client: ClientConnection, kind: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = receive(client, max(deadline - time.monotonic(), 0.01))
        if message["type"] == kind:
            return message


def messages_until(
    client: ClientConnection, done: Callable[[list[dict]], bool], timeout: float = 20.0
) -> list[dict]:
    """Every message read until those read so far satisfy ``done`` (TimeoutError after
    ``timeout``)."""
    deadline = time.monotonic() + timeout
    read: list[dict] = []
    while not done(read):
        read.append(receive(client, max(deadline - time.monotonic(), 0.01)))
    return read
