"""Gateway processes on the stack's Kafka and Redis: broadcast, cache, slow clients, SIGTERM,
and a watched player's live rank.

Snapshots are produced straight to a ``leaderboard`` topic of the test's own, as the
publisher would, so each test controls exactly which versions exist; the live rank test
runs the whole pipeline (ingest, ranker, publisher) instead.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer
from redis import Redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.kafka import producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.settings import DevstackSettings
from tests.support.live_client import next_player, next_snapshot, open_client, receive
from tests.support.pipeline import Services, post_scores, scores
from tests.support.services import ServiceProcess, metric_value, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(pipeline: DevstackSettings) -> DevstackSettings:
    """Topics and a Redis key prefix of the test's own (the ``pipeline`` fixture)."""
    return pipeline


@pytest.fixture
def services(settings: DevstackSettings, tmp_path: Path) -> Iterator[Services]:
    started = Services(settings, tmp_path)
    yield started
    started.close()


@pytest.fixture
def producer(settings: DevstackSettings) -> Iterator[Producer]:
    producer = Producer(producer_config(settings))
    yield producer
    producer.flush(10)
    producer.close()


def snapshot(board: str, version: int, players: int = 3) -> LeaderboardSnapshot:
    now = datetime.now(UTC)
    return LeaderboardSnapshot(
        leaderboard=board,
        version=version,
        entries=[
            SnapshotEntry(rank=rank, player_id=f"player-{rank}", score=1_000_000 - rank)
            for rank in range(1, players + 1)
        ],
        generated_at=now,
        newest_event_at=now,
    )


def publish(producer: Producer, topic: str, snap: LeaderboardSnapshot) -> None:
    producer.produce(topic, key=snap.leaderboard.encode(), value=snap.to_json())
    assert producer.flush(10) == 0


def metric(gateway: ServiceProcess, name: str, labels: dict[str, str] | None = None) -> float:
    return metric_value(gateway.metrics(), name, labels)


def test_every_replica_delivers_every_snapshot(
    settings: DevstackSettings, services: Services, producer: Producer
) -> None:
    board = f"live-{uuid.uuid4().hex[:8]}"
    gateways = [services.gateway(), services.gateway()]
    for gateway in gateways:
        gateway.wait_ready()
    with ExitStack() as opened:
        clients = [
            opened.enter_context(open_client(gateway, board))
            for gateway in gateways
            for _ in range(2)
        ]
        for client in clients:
            hello = receive(client)
            assert (hello["type"], hello["has_snapshot"]) == ("hello", False)
        for version in range(1, 11):
            publish(producer, settings.topic_leaderboard, snapshot(board, version))
            for client in clients:
                assert next_snapshot(client)["version"] == version


def test_a_gateway_serves_the_cached_snapshot_at_once(
    settings: DevstackSettings, services: Services, producer: Producer
) -> None:
    board = f"cache-{uuid.uuid4().hex[:8]}"
    cached = snapshot(board, 41)
    keys = RedisKeys(settings.redis_key_prefix)
    redis = Redis(**settings.redis_client_kwargs())
    try:
        # What the publisher leaves behind: the cache, and the board in the boards set.
        redis.set(keys.snapshot(board), cached.to_json())
        redis.sadd(keys.boards(), board)
        gateway = services.gateway().wait_ready()
        with open_client(gateway, board) as client:
            assert receive(client)["has_snapshot"] is True
            first = next_snapshot(client)
            assert first["version"] == 41
            assert first["entries"][0]["player_id"] == "player-1"
            publish(producer, settings.topic_leaderboard, snapshot(board, 40))  # stale: skipped
            publish(producer, settings.topic_leaderboard, snapshot(board, 42))
            assert next_snapshot(client)["version"] == 42
    finally:
        redis.delete(keys.snapshot(board), keys.boards())
        redis.close()


def stalled_client(gateway: ServiceProcess, board: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window fills fast
    sock.settimeout(10)
    sock.connect(("127.0.0.1", gateway.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/leaderboards/{board} HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # byte by byte: leave the frames that follow unread
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def dropped(sock: socket.socket) -> bool:
    """Whether the server dropped this connection (what it had sent is read and discarded)."""
    try:
        while chunk := sock.recv(65536):
            del chunk
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_a_client_that_stops_reading_delays_no_one_and_is_dropped(
    settings: DevstackSettings, services: Services, producer: Producer
) -> None:
    board = f"slow-{uuid.uuid4().hex[:8]}"
    gateway = services.gateway(LEADERBOARD_GATEWAY_PING_INTERVAL_SECONDS="5").wait_ready()
    stalled = [stalled_client(gateway, board) for _ in range(10)]
    with ExitStack() as opened:
        for sock in stalled:
            opened.callback(sock.close)
        healthy = opened.enter_context(open_client(gateway, board))
        assert receive(healthy)["type"] == "hello"
        wait_for(
            lambda: metric(gateway, "leaderboard_gateway_connected_clients") == 11,
            10,
            "11 connected clients",
        )
        rss_before = metric(gateway, "process_resident_memory_bytes")
        # About 390 KB per snapshot: 60 of them are 23 MB per client, 230 MB for the ten
        # stalled ones if the gateway buffered what they do not read.
        rounds = 60
        for version in range(1, rounds + 1):
            publish(producer, settings.topic_leaderboard, snapshot(board, version, players=5000))
            assert next_snapshot(healthy)["version"] == version
        grown = metric(gateway, "process_resident_memory_bytes") - rss_before
        assert grown < 60 * 1024 * 1024, f"the gateway grew by {grown / 2**20:.0f} MiB"
        assert metric(gateway, "leaderboard_gateway_updates_coalesced_total") > 0

        # The stalled clients are disconnected (send timeout or unanswered ping) and their
        # sockets really closed; the healthy one stays.
        wait_for(
            lambda: metric(gateway, "leaderboard_gateway_connected_clients") == 1,
            60,
            "the stalled clients to be dropped",
        )
        for sock in stalled:
            sock.settimeout(10)
            assert dropped(sock)
        publish(producer, settings.topic_leaderboard, snapshot(board, rounds + 1))
        assert next_snapshot(healthy)["version"] == rounds + 1


def test_compression_is_never_negotiated(services: Services) -> None:
    # The client offers permessage-deflate; the gateway's frames are written uncompressed.
    gateway = services.gateway().wait_ready()
    with open_client(gateway, f"deflate-{uuid.uuid4().hex[:8]}") as client:
        assert client.response is not None
        assert "Sec-WebSocket-Extensions" not in client.response.headers
        assert receive(client)["type"] == "hello"


def test_sessions_are_counted_by_how_they_closed(services: Services) -> None:
    # The direct path (uvicorn's protocol of the gateway), which unit tests cannot reach.
    gateway = services.gateway().wait_ready()
    board = f"close-{uuid.uuid4().hex[:8]}"
    for code in (1001, 4321):
        with open_client(gateway, board) as client:
            assert receive(client)["type"] == "hello"
            client.close(code)

    def disconnects(code: str) -> float:
        labels = {"reason": "closed", "code": code}
        return metric(gateway, "leaderboard_gateway_disconnects_total", labels)

    wait_for(lambda: disconnects("1001") == 1, 10, "the going-away close counted")
    wait_for(lambda: disconnects("other") == 1, 10, "the application close counted as other")
    assert metric(gateway, "leaderboard_gateway_connections_total") == 2
    assert "4321" not in gateway.metrics()


def read_until_closed(client: ClientConnection) -> ConnectionClosed:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            receive(client)
        except ConnectionClosed as closed:
            return closed
    raise AssertionError("the connection was not closed")


def test_sigterm_closes_clients_with_1012_and_exits_0(
    settings: DevstackSettings, services: Services
) -> None:
    gateway = services.gateway().wait_ready()
    with open_client(gateway, "global") as client:
        assert receive(client)["type"] == "hello"
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        closed = read_until_closed(client)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1012
    assert gateway.process.wait(30) == 0, gateway.output()


def rows(message: dict) -> list[tuple[int, str, int]]:
    return [(e["rank"], e["player_id"], e["score"]) for e in message["entries"]]


def player_until(
    client: ClientConnection, done: Callable[[dict], bool], timeout: float = 30.0
) -> tuple[dict, list[float]]:
    """``player`` messages until one satisfies ``done``: that one, and when each arrived."""
    deadline = time.monotonic() + timeout
    arrived = []
    while True:
        message = next_player(client, max(deadline - time.monotonic(), 0.01))
        arrived.append(time.monotonic())
        if done(message):
            return message, arrived


def test_a_watched_player_below_the_top_n_follows_its_rank_live(services: Services) -> None:
    ingest = services.scoring(LEADERBOARD_PUBLISHER_INTERVAL_SECONDS="0.1")
    gateway = services.gateway().wait_ready()
    board = f"own-{uuid.uuid4().hex[:8]}"
    # p01 1500 ... p15 100: the top 10 ends at p10 (600).
    field = {f"p{n:02d}": 1600 - 100 * n for n in range(1, 16)}
    post_scores(ingest, services.api_key, scores(board, field))

    with (
        open_client(gateway, board, "?player=me&radius=1") as me,
        open_client(gateway, board, "?player=p01&radius=0") as leader,
    ):
        assert receive(me)["type"] == "hello"
        first = next_player(me)  # right after hello: no score yet
        assert (first["player_id"], first["rank"], first["score"]) == ("me", None, None)
        assert first["entries"] == []
        # The field may still be on its way to Redis when the clients connect.
        led, _ = player_until(leader, lambda m: m["rank"] == 1)
        assert led["player_id"] == "p01"

        # Its own score: 13th, between p12 (400) and p13 (300); the top 10 does not change.
        post_scores(ingest, services.api_key, scores(board, {"me": 350}, {"me": "Mo"}))
        mine, _ = player_until(me, lambda m: m["rank"] is not None)
        assert (mine["rank"], mine["score"], mine["display_name"]) == (13, 350, "Mo")
        assert rows(mine) == [(12, "p12", 400), (13, "me", 350), (14, "p13", 300)]
        assert mine["total"] == 16

        # A neighbour below passes it: p13 300 -> 450.
        post_scores(ingest, services.api_key, scores(board, {"p13": 150}))
        mine, _ = player_until(me, lambda m: m["rank"] == 14)
        assert rows(mine) == [(13, "p12", 400), (14, "me", 350), (15, "p14", 200)]

        # A burst: 40 scores of one point over about two seconds, coalesced into a few
        # messages a second, the last one up to date.
        started = time.monotonic()
        for _ in range(40):
            post_scores(ingest, services.api_key, scores(board, {"me": 1}))
            time.sleep(0.05)
        mine, arrived = player_until(me, lambda m: m["score"] == 390)
        elapsed = time.monotonic() - started
        assert rows(mine) == [(13, "p12", 400), (14, "me", 390), (15, "p14", 200)]
        assert 2 <= len(arrived) <= elapsed / 0.25 + 2, (len(arrived), elapsed)

        # The leader's row never changed: it got its first message only.
        with pytest.raises(TimeoutError):
            next_player(leader, timeout=1.0)

    sent = metric(gateway, "leaderboard_gateway_messages_sent_total", {"type": "player"})
    assert sent >= 5
