"""The gateway app over ASGI: page, WebSocket sessions, probes, metrics, REST errors.

The Kafka consumer is a fake fed by the test; Redis and PostgreSQL are addresses where
nothing listens, so the app's behaviour without them is covered too (REST 503, not ready,
WebSockets still served from Kafka). REST answers on real data are integration tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from leaderboard.core.events import LeaderboardSnapshot, SnapshotEntry
from leaderboard.core.metrics import Metrics
from leaderboard.gateway.app import create_app
from leaderboard.gateway.settings import GatewaySettings
from tests.support.kafka_fakes import FakeAssignedConsumer
from tests.support.services import free_port, metric_value, wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(board: str, version: int, *players: str) -> LeaderboardSnapshot:
    return LeaderboardSnapshot(
        leaderboard=board,
        version=version,
        entries=[
            SnapshotEntry(rank=rank, player_id=player, score=100 - rank)
            for rank, player in enumerate(players or ("p1",), start=1)
        ],
        generated_at=T0,
        newest_event_at=T0,
    )


class Kafka:
    """Holds the fake consumers the app creates: of snapshots, of change notices and of
    board definitions (empty topics unless a test pushes some)."""

    consumer: FakeAssignedConsumer | None = None
    changes: FakeAssignedConsumer | None = None
    definitions: FakeAssignedConsumer | None = None

    def factory(self, config: dict[str, Any]) -> FakeAssignedConsumer:
        if config["group.id"].startswith("gateway-definitions-"):
            self.definitions = FakeAssignedConsumer(config, "leaderboard-definitions")
            return self.definitions
        if config["group.id"].startswith("gateway-changes-"):
            self.changes = FakeAssignedConsumer(config, "leaderboard-change")
            return self.changes
        self.consumer = FakeAssignedConsumer(config, "leaderboard")
        return self.consumer

    def publish(self, snapshot: LeaderboardSnapshot) -> None:
        wait_for(lambda: self.consumer and self.consumer.assigned, 5, "the assignment")
        assert self.consumer is not None
        self.consumer.publish(snapshot)


@pytest.fixture
def kafka() -> Kafka:
    return Kafka()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics("gateway")


def make_client(kafka: Kafka, metrics: Metrics, **overrides: Any) -> TestClient:
    settings = GatewaySettings(
        **{
            "redis_port": free_port(),  # nothing listens there
            "postgres_port": free_port(),
            "gateway_ping_interval_seconds": 30,
            "gateway_allow_loopback_origins": False,
            **overrides,
        }
    )
    # WebSocket requests of the test client carry `Host: testserver`.
    return TestClient(create_app(settings, metrics, consumer_factory=kafka.factory))


@pytest.fixture
def client(kafka: Kafka, metrics: Metrics) -> Iterator[TestClient]:
    with make_client(kafka, metrics) as test_client:
        yield test_client


def test_the_page_uses_only_relative_urls(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in page.headers
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "static/app.js" in links
    assert "static/style.css" in links
    assert all(not link.startswith(("/", "http")) for link in links), links
    script = client.get("/static/app.js")
    assert script.status_code == 200
    # The socket URL is built from the page's own URL, scheme included.
    assert "new URL(`ws/leaderboards/${" in script.text
    assert '"https:" ? "wss:" : "ws:"' in script.text
    assert client.get("/static/style.css").status_code == 200


def test_a_client_gets_hello_then_the_current_snapshot_then_each_new_one(
    client: TestClient, kafka: Kafka
) -> None:
    kafka.publish(snapshot("global", 1, "p1", "p2"))
    wait_for(
        lambda: metric_value(client.get("/metrics").text, "leaderboard_gateway_leaderboards") == 1,
        5,
        "the snapshot",
    )
    with client.websocket_connect("/ws/leaderboards/global") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello"
        assert hello["protocol"] == 1
        assert hello["has_snapshot"] is True
        first = ws.receive_json()
        assert (first["type"], first["version"]) == ("snapshot", 1)
        assert [e["player_id"] for e in first["entries"]] == ["p1", "p2"]
        kafka.publish(snapshot("other", 1))  # another leaderboard: not sent here
        kafka.publish(snapshot("global", 2, "p2", "p1"))
        second = ws.receive_json()
        assert (second["type"], second["version"]) == ("snapshot", 2)
        assert [e["player_id"] for e in second["entries"]] == ["p2", "p1"]


def test_a_leaderboard_without_a_snapshot_says_so_then_sends_the_first(
    client: TestClient, kafka: Kafka
) -> None:
    with client.websocket_connect("/ws/leaderboards/fresh") as ws:
        hello = ws.receive_json()
        assert hello["has_snapshot"] is False
        kafka.publish(snapshot("fresh", 1))
        assert ws.receive_json()["type"] == "snapshot"


def test_an_idle_connection_gets_heartbeats(kafka: Kafka, metrics: Metrics) -> None:
    with (
        make_client(kafka, metrics, gateway_ping_interval_seconds=0.2) as client,
        client.websocket_connect("/ws/leaderboards/quiet") as ws,
    ):
        assert ws.receive_json()["type"] == "hello"
        assert ws.receive_json()["type"] == "heartbeat"


def test_another_sites_page_is_refused_with_403(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(
            "/ws/leaderboards/global", headers={"Origin": "https://evil.example"}
        ),
    ):
        pass
    assert refused.value.status_code == 403
    assert "not allowed" in refused.value.text
    # The gateway's own page is fine.
    with client.websocket_connect(
        "/ws/leaderboards/global", headers={"Origin": "http://testserver"}
    ) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_an_invalid_leaderboard_id_is_closed_with_1008(client: TestClient) -> None:
    with (
        client.websocket_connect("/ws/leaderboards/bad.id") as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 1008
    assert "invalid leaderboard id" in closed.value.reason


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("player=", "invalid player id"),
        ("player=has%20space", "invalid player id"),
        ("player=" + "p" * 129, "invalid player id"),
        ("player=p1&radius=26", "invalid radius: use 0 to 25"),
        ("player=p1&radius=-1", "invalid radius"),
        ("player=p1&radius=two", "invalid radius"),
        ("radius=3", "radius needs a player"),
    ],
)
def test_an_invalid_player_or_radius_is_closed_with_1008(
    client: TestClient, query: str, reason: str
) -> None:
    with (
        client.websocket_connect(f"/ws/leaderboards/global?{query}") as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 1008
    assert reason in closed.value.reason
    refused = metric_value(
        client.get("/metrics").text,
        "leaderboard_gateway_connections_refused_total",
        {"reason": "invalid_query"},
    )
    assert refused == 1


def test_a_watching_client_gets_snapshots_while_redis_is_away(
    client: TestClient, kafka: Kafka
) -> None:
    # Its player cannot be read (nothing listens at the Redis address): the snapshots
    # still come, and the watcher is counted, then uncounted.
    with client.websocket_connect("/ws/leaderboards/global?player=p1&radius=0") as ws:
        assert ws.receive_json()["type"] == "hello"
        watchers = "leaderboard_gateway_player_watchers"
        assert metric_value(client.get("/metrics").text, watchers) == 1
        kafka.publish(snapshot("global", 1, "p1"))
        assert ws.receive_json()["type"] == "snapshot"
    wait_for(lambda: metric_value(client.get("/metrics").text, watchers) == 0, 5, "no watcher left")


def test_past_the_connection_cap_clients_are_closed_with_1013(
    kafka: Kafka, metrics: Metrics
) -> None:
    with (
        make_client(kafka, metrics, gateway_max_connections=1) as client,
        client.websocket_connect("/ws/leaderboards/global") as first,
    ):
        assert first.receive_json()["type"] == "hello"
        with (
            client.websocket_connect("/ws/leaderboards/global") as second,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            second.receive_json()
        assert closed.value.code == 1013
        assert "retry later" in closed.value.reason
        refused = metric_value(
            client.get("/metrics").text,
            "leaderboard_gateway_connections_refused_total",
            {"reason": "limit"},
        )
        assert refused == 1


def test_connected_clients_are_counted(client: TestClient) -> None:
    def connected() -> float:
        return metric_value(client.get("/metrics").text, "leaderboard_gateway_connected_clients")

    with client.websocket_connect("/ws/leaderboards/global") as ws:
        ws.receive_json()
        assert connected() == 1
    wait_for(lambda: connected() == 0, 5, "the client to be gone")


def test_without_redis_rest_is_503_and_the_gateway_not_ready(client: TestClient) -> None:
    answer = client.get("/api/leaderboards/global/top")
    assert answer.status_code == 503
    assert "Redis" in answer.json()["detail"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"]["ok"] is False
    assert checks["kafka"]["ok"] is True
    assert checks["definitions"]["ok"] is True  # the empty topic is read to its end
    assert client.get("/livez").status_code == 200


def test_invalid_rest_parameters_are_422(client: TestClient) -> None:
    assert client.get("/api/leaderboards/global/top?limit=101").status_code == 422
    assert client.get("/api/leaderboards/global/top?limit=0").status_code == 422
    assert client.get("/api/leaderboards/global/top?offset=-1").status_code == 422
    assert client.get("/api/leaderboards/bad.id/top").status_code == 422
    assert client.get("/api/leaderboards/global/players/p1/around?radius=26").status_code == 422
    assert client.get("/api/leaderboards/global/players/bad%20id").status_code == 422
    assert client.get("/api/leaderboards/global/periods?limit=0").status_code == 422


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("top", {"period": "yesterday"}),
        ("players", {"ids": "p1", "period": "2026-12-02T10:00"}),
        ("players/p1", {"period": "2026-12-02" * 7}),
        ("players/p1/around", {"period": "2026-W4"}),
        ("periods", {"cursor": "2026-12-02"}),
    ],
)
def test_a_malformed_period_or_cursor_is_422_naming_it(
    client: TestClient, path: str, query: dict[str, str]
) -> None:
    answer = client.get(f"/api/leaderboards/global/{path}", params=query)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    [name] = set(query) - {"ids"}
    assert problem["loc"] == ["query", name]
    assert re.search("not a period id|not a cursor|at most 64 characters", problem["msg"])


def test_without_postgresql_a_past_period_is_503_naming_it(client: TestClient) -> None:
    answer = client.get("/api/leaderboards/global/top", params={"period": "2026-12-01"})
    assert answer.status_code == 503
    assert "closed periods are unavailable (PostgreSQL)" in answer.json()["detail"]
    assert answer.headers["Retry-After"] == "5"
    # The live period never asks PostgreSQL: without Redis it is Redis's 503.
    assert "Redis" in client.get("/api/leaderboards/global/top").json()["detail"]


@pytest.mark.parametrize(
    ("ids", "complaint"),
    [
        ("", "at least 1 character"),
        ("a,,b", "not a player id"),
        ("a,bad id", "not a player id"),
        ("a,b,a,c,b", "repeated: a, b"),
        (",".join(f"p{n}" for n in range(101)), "101 player ids; at most 100"),
    ],
)
def test_the_players_of_a_friends_list_must_be_1_to_100_distinct_ids(
    client: TestClient, ids: str, complaint: str
) -> None:
    answer = client.get("/api/leaderboards/global/players", params={"ids": ids})
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["query", "ids"]
    assert complaint in problem["msg"]
    # 100 distinct ids are accepted (and then need Redis, which is away).
    hundred = ",".join(f"p{n}" for n in range(100))
    assert client.get(f"/api/leaderboards/global/players?ids={hundred}").status_code == 503


def test_openapi_documents_the_rest_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) == {
        "/api/leaderboards",
        "/api/leaderboards/{leaderboard_id}/periods",
        "/api/leaderboards/{leaderboard_id}/top",
        "/api/leaderboards/{leaderboard_id}/players",
        "/api/leaderboards/{leaderboard_id}/players/{player_id}",
        "/api/leaderboards/{leaderboard_id}/players/{player_id}/around",
        "/livez",
        "/readyz",
    }
    friends = paths["/api/leaderboards/{leaderboard_id}/players"]["get"]
    assert [p["name"] for p in friends["parameters"]] == ["leaderboard_id", "ids", "period"]
    assert set(friends["responses"]) == {"200", "404", "422", "503"}
    models = schema["components"]["schemas"]
    for model in ("LeaderboardSummary", "TopPage", "PlayerRows"):
        described = {"title", "sort", "format", "operator", "period", "period_ends_at"}
        assert described <= set(models[model]["properties"])
    assert client.get("/docs").status_code == 200


def test_rest_requests_are_timed_by_route_template_not_by_leaderboard_or_player(
    client: TestClient, metrics: Metrics
) -> None:
    for board in ("global", "weekly"):
        assert client.get(f"/api/leaderboards/{board}/top").status_code == 503  # no Redis
    client.get("/api/leaderboards/global/players/p1")
    client.get("/api/nothing/here")
    client.get("/readyz")

    def requests(route: str, status: str) -> float | None:
        name = "leaderboard_gateway_http_request_duration_seconds_count"
        labels = {"route": route, "method": "GET", "status": status}
        return metrics.registry.get_sample_value(name, labels)

    assert requests("/api/leaderboards/{leaderboard_id}/top", "503") == 2
    assert requests("/api/leaderboards/{leaderboard_id}/players/{player_id}", "503") == 1
    assert requests("none", "404") == 1
    assert requests("/readyz", "200") is None
    text = client.get("/metrics").text
    for chosen_by_the_client in ("global", "weekly", "p1", "nothing"):
        assert chosen_by_the_client not in text


def test_websocket_sessions_count_their_connect_and_their_close_code(
    client: TestClient, metrics: Metrics
) -> None:
    def disconnects(reason: str, code: str) -> float:
        labels = {"reason": reason, "code": code}
        value = metrics.registry.get_sample_value("leaderboard_gateway_disconnects_total", labels)
        return value or 0.0

    with client.websocket_connect("/ws/leaderboards/global") as ws:
        ws.receive_json()
        ws.close(1001)
    wait_for(lambda: disconnects("closed", "1001") == 1, 5, "the going-away close counted")
    with client.websocket_connect("/ws/leaderboards/global") as ws:
        ws.receive_json()
        ws.close(4321)  # an application code: counted as other, not as a series of its own
    wait_for(lambda: disconnects("closed", "other") == 1, 5, "the application close counted")
    with client.websocket_connect("/ws/leaderboards/global") as ws:
        ws.receive_json()
        ws.close(1012)  # what uvicorn's stop sends every session
    wait_for(lambda: disconnects("shutdown", "1012") == 1, 5, "the shutdown counted")
    assert metrics.registry.get_sample_value("leaderboard_gateway_connections_total") == 3
    assert "4321" not in client.get("/metrics").text
