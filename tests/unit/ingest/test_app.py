"""The HTTP behaviour of the ingest app, with small fakes in place of the Kafka producer and
of the definitions topic."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, get_args

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic.fields import FieldInfo

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import definition_key
from leaderboard.core.errors import ConfigurationError, KafkaError
from leaderboard.core.events import SAFE_INTEGER, PlayerId, ScoreEvent
from leaderboard.core.logging import configure_logging
from leaderboard.core.metrics import Metrics
from leaderboard.ingest.admin import PLAYER_ID_PATTERN
from leaderboard.ingest.app import create_app
from leaderboard.ingest.settings import IngestSettings
from tests.support.boards import board_definition
from tests.support.kafka_fakes import FakeAssignedConsumer
from tests.support.services import wait_for

GAME_KEY = "game-key-0123456789abcdef"
OLD_KEY = "old-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {GAME_KEY}"}
MAX_BODY = 1024 * 1024  # IngestSettings.max_body_bytes for a small batch limit


class FakeSink:
    """Records what it was sent; fails with ``failure`` when set."""

    def __init__(self) -> None:
        self.sent: list[ScoreEvent] = []
        self.failure: KafkaError | None = None
        self.reachable = (True, "1 broker(s)")
        self.broken: str | None = None
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    async def send(self, events: Sequence[ScoreEvent]) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.extend(events)

    async def check(self) -> tuple[bool, str]:
        return self.reachable

    async def close(self, timeout: float) -> None:
        self.closed = True


class Definitions:
    """The definitions topic the app's feed reads: ``held`` is on it from the start; with
    ``readable`` False the feed cannot read it (Kafka away: it never catches up)."""

    def __init__(self) -> None:
        self.held: list[BoardDefinition] = []
        self.readable = True
        self.consumer: FakeAssignedConsumer | None = None

    def factory(self, config: dict[str, Any]) -> FakeAssignedConsumer:
        topic = "leaderboard-definitions" if self.readable else "not-this-topic"
        self.consumer = FakeAssignedConsumer(config, topic)
        for definition in self.held:
            self.push(definition)
        return self.consumer

    def push(self, definition: BoardDefinition) -> None:
        assert self.consumer is not None
        self.consumer.push(definition.to_json(), key=definition_key(definition.id))


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def definitions() -> Definitions:
    """Two boards: one with wider bounds than the deployment's, one with narrower."""
    topic = Definitions()
    topic.held = [
        board_definition("wide", score_min=-100, score_max=SAFE_INTEGER),
        board_definition("narrow", score_min=10, score_max=20),
    ]
    return topic


@pytest.fixture
def metrics() -> Metrics:
    return Metrics("ingest")


def make_client(sink: FakeSink, metrics: Metrics, definitions: Definitions) -> TestClient:
    settings = IngestSettings(
        ingest_api_keys=f"game:{GAME_KEY},old:{OLD_KEY}",
        ingest_disabled_keys="old",
        ingest_max_batch_events=5,
        score_max=1000,
    )
    return TestClient(
        create_app(settings, metrics, sink=sink, consumer_factory=definitions.factory)
    )


@pytest.fixture
def client(sink: FakeSink, metrics: Metrics, definitions: Definitions) -> Iterator[TestClient]:
    with make_client(sink, metrics, definitions) as test_client:
        app: Any = test_client.app
        assert app.state.board_feed.wait_caught_up(5)
        yield test_client
    assert sink.closed
    assert definitions.consumer is not None
    assert definitions.consumer.closed


def event(**fields: object) -> dict[str, object]:
    return {"player_id": "p1", "score": 10} | fields


def test_one_event_is_accepted_with_its_new_id(client: TestClient, sink: FakeSink) -> None:
    answer = client.post("/api/scores", json=event(), headers=AUTH)
    assert answer.status_code == 202, answer.text
    [event_id] = answer.json()["event_ids"]
    assert answer.json()["accepted"] == 1
    assert [str(sent.event_id) for sent in sink.sent] == [event_id]
    assert sink.sent[0].player_id == "p1"


def test_a_batch_answers_the_ids_in_order(client: TestClient, sink: FakeSink) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = [event(event_id=ids[0]), event(player_id="p2"), event(event_id=ids[2])]
    answer = client.post("/api/scores", json=batch, headers=AUTH)
    assert answer.status_code == 202, answer.text
    returned = answer.json()["event_ids"]
    assert (returned[0], returned[2]) == (ids[0], ids[2])
    assert returned == [str(sent.event_id) for sent in sink.sent]


def test_x_api_key_works_too(client: TestClient) -> None:
    assert (
        client.post("/api/scores", json=event(), headers={"X-API-Key": GAME_KEY}).status_code == 202
    )


def test_no_key_is_401_with_www_authenticate(client: TestClient, sink: FakeSink) -> None:
    answer = client.post("/api/scores", json=event())
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="leaderboard-ingest"'
    assert "missing API key" in answer.json()["detail"]
    assert not sink.sent


def test_an_unknown_key_is_401_invalid_token(client: TestClient) -> None:
    answer = client.post("/api/scores", json=event(), headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert answer.json()["detail"] == "unknown API key"


def test_a_disabled_key_is_403_naming_it(client: TestClient, sink: FakeSink) -> None:
    answer = client.post("/api/scores", json=event(), headers={"X-API-Key": OLD_KEY})
    assert answer.status_code == 403
    assert answer.json()["detail"] == "the API key 'old' is disabled; ask for a new key"
    assert not sink.sent


def test_authentication_comes_before_the_body(client: TestClient) -> None:
    assert client.post("/api/scores", content=b"not json").status_code == 401


def test_invalid_events_are_422_with_field_errors(client: TestClient, sink: FakeSink) -> None:
    answer = client.post("/api/scores", json=[event(), event(score=0)], headers=AUTH)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", 1, "score"]
    assert error["msg"] == "score 0 is outside [1, 1000], the bounds of leaderboard 'global'"
    assert not sink.sent


def test_a_score_within_its_board_s_wider_bounds_is_accepted(
    client: TestClient, sink: FakeSink
) -> None:
    batch = [event(leaderboard="wide", score=score) for score in (-100, 0, SAFE_INTEGER)]
    answer = client.post("/api/scores", json=batch, headers=AUTH)
    assert answer.status_code == 202, answer.text
    assert [sent.score for sent in sink.sent] == [-100, 0, SAFE_INTEGER]


def test_a_score_outside_its_board_s_narrower_bounds_is_422_naming_board_and_bounds(
    client: TestClient, sink: FakeSink
) -> None:
    # 500 is within the deployment's bounds (1 to 1000), not within the board's.
    answer = client.post("/api/scores", json=event(leaderboard="narrow", score=500), headers=AUTH)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "score"], "score_out_of_bounds")
    assert error["msg"] == "score 500 is outside [10, 20], the bounds of leaderboard 'narrow'"
    assert error["ctx"] | {"detail": None} == {
        "detail": None,
        "leaderboard": "narrow",
        "minimum": 10,
        "maximum": 20,
    }
    assert not sink.sent


def test_a_score_beyond_the_contract_is_422_naming_its_limits(client: TestClient) -> None:
    answer = client.post(
        "/api/scores", json=event(leaderboard="wide", score=SAFE_INTEGER + 1), headers=AUTH
    )
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["type"] == "score_out_of_bounds"
    assert "contract limits [-9007199254740991, 9007199254740991]" in error["msg"]


def test_a_changed_definition_s_bounds_apply_within_2_seconds(
    client: TestClient, definitions: Definitions
) -> None:
    wider = event(leaderboard="narrow", score=500)
    assert client.post("/api/scores", json=wider, headers=AUTH).status_code == 422
    definitions.push(board_definition("narrow", revision=2, score_max=1000))
    wait_for(
        lambda: client.post("/api/scores", json=wider, headers=AUTH).status_code == 202,
        2,
        "the new bounds of 'narrow' to apply",
    )
    unknown = event(leaderboard="undefined", score=500)
    assert client.post("/api/scores", json=unknown, headers=AUTH).status_code == 202


def test_until_the_definitions_are_read_scores_are_503_and_the_service_not_ready(
    sink: FakeSink, metrics: Metrics, definitions: Definitions
) -> None:
    definitions.readable = False
    with make_client(sink, metrics, definitions) as client:
        given = str(uuid.UUID(int=9))
        # Outside the deployment's bounds, within the board's it cannot know yet.
        answer = client.post("/api/scores", json=event(event_id=given, score=5000), headers=AUTH)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["event_ids"] == [given]
        assert answer.json()["detail"] == (
            "the board definitions are not read from Kafka yet (topic 'leaderboard-definitions')"
            "; resend the events with the same event_ids"
        )
        # Whatever does not depend on a board's bounds is still refused at once.
        invalid = client.post("/api/scores", json=event(player_id="a b"), headers=AUTH)
        assert invalid.status_code == 422
        readiness = client.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["checks"]["definitions"]["ok"] is False
    assert not sink.sent


def test_a_display_name_with_a_control_character_is_422_saying_which(
    client: TestClient, sink: FakeSink
) -> None:
    answer = client.post(
        "/api/scores", json=[event(), event(display_name="Ada\x1b[31m")], headers=AUTH
    )
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", 1, "display_name"]
    assert error["msg"] == (
        "a display name must not contain control characters: found U+001B at position 3"
    )
    assert not sink.sent


def test_printable_display_names_in_any_script_are_accepted(
    client: TestClient, sink: FakeSink
) -> None:
    answer = client.post("/api/scores", json=event(display_name="Zoë 🎮 李"), headers=AUTH)
    assert answer.status_code == 202
    assert [sent.display_name for sent in sink.sent] == ["Zoë 🎮 李"]


def test_a_declared_body_over_the_limit_is_413(client: TestClient) -> None:
    batch = [event(display_name="x" * 60)] * 10_000
    body = orjson.dumps(batch)
    assert len(body) > MAX_BODY
    answer = client.post("/api/scores", content=body, headers=AUTH)
    assert answer.status_code == 413
    assert f"over the limit of {MAX_BODY} bytes (1 MiB)" in answer.json()["detail"]


def test_a_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"[" + orjson.dumps(event())
        for _ in range(MAX_BODY // (64 * 1024) + 1):
            yield b" " * (64 * 1024)
        yield b"]"

    answer = client.post("/api/scores", content=chunks(), headers=AUTH)
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413
    assert f"over the limit of {MAX_BODY} bytes" in answer.json()["detail"]


def test_too_many_events_is_413_saying_the_limit(client: TestClient) -> None:
    answer = client.post("/api/scores", json=[event()] * 6, headers=AUTH)
    assert answer.status_code == 413
    assert "over the limit of 5 events per request" in answer.json()["detail"]


def test_kafka_failure_is_503_with_the_ids_to_resend(client: TestClient, sink: FakeSink) -> None:
    sink.failure = KafkaError("Kafka did not acknowledge 1 of 1 events within 5 s")
    answer = client.post("/api/scores", json=event(event_id=str(uuid.UUID(int=7))), headers=AUTH)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["event_ids"] == [str(uuid.UUID(int=7))]
    assert "resend the events with the same event_ids" in answer.json()["detail"]


def test_readiness_follows_the_kafka_check(client: TestClient, sink: FakeSink) -> None:
    assert client.get("/readyz").status_code == 200
    sink.reachable = (False, "cannot reach Kafka")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["kafka"] == {"ok": False, "detail": "cannot reach Kafka"}


def test_liveness_fails_once_the_producer_is_broken(client: TestClient, sink: FakeSink) -> None:
    assert client.get("/livez").status_code == 200
    sink.broken = "fatal idempotence error"
    assert client.get("/livez").status_code == 503


def test_metrics_time_requests_by_route_and_status_and_count_accepted_events(
    client: TestClient, metrics: Metrics
) -> None:
    client.post("/api/scores", json=[event(), event()], headers=AUTH)
    client.post("/api/scores", json=event())
    client.get("/readyz")  # probes are not timed
    text = client.get("/metrics").text

    def requests(**labels: str) -> float | None:
        name = "leaderboard_ingest_http_request_duration_seconds_count"
        return metrics.registry.get_sample_value(name, labels)

    assert requests(route="/api/scores", method="POST", status="202") == 1
    assert requests(route="/api/scores", method="POST", status="401") == 1
    assert requests(route="/readyz", method="GET", status="200") is None
    assert "leaderboard_ingest_events_accepted_total 2.0" in text
    assert "leaderboard_ingest_produce_duration_seconds_count 1.0" in text


def test_docs_describe_the_body_the_keys_and_the_event_id_contract(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "same `event_id`s never counts a score twice" in schema["info"]["description"]
    score = schema["components"]["schemas"]["ScoreEventIn"]["properties"]["score"]
    assert (score["minimum"], score["maximum"]) == (-SAFE_INTEGER, SAFE_INTEGER)
    assert "within the bounds of its board" in score["description"]
    body = schema["paths"]["/api/scores"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][1]["maxItems"] == 5
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}


@pytest.fixture
def log_lines() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("ingest", "DEBUG", "json", stream=stream)
    return stream


def test_requests_are_logged_by_caller_name_and_keys_never(
    client: TestClient, log_lines: io.StringIO
) -> None:
    client.post("/api/scores", json=event(), headers=AUTH)
    client.post("/api/scores", json=event(), headers={"X-API-Key": OLD_KEY})
    client.post("/api/scores", json=event(), headers={"Authorization": "Bearer wrong-key-0123456"})
    logged = log_lines.getvalue()
    requests = [
        line for line in map(orjson.loads, logged.splitlines()) if line["event"] == "request"
    ]
    assert [(line["status"], line["caller"]) for line in requests] == [
        (202, "game"),
        (403, "old"),
        (401, None),
    ]
    for secret in (GAME_KEY, OLD_KEY, "wrong-key-0123456"):
        assert secret not in logged


def test_without_keys_the_app_is_not_built(metrics: Metrics) -> None:
    settings = IngestSettings.model_construct(ingest_api_keys=None, ingest_disabled_keys="")
    with pytest.raises(ConfigurationError, match="LEADERBOARD_INGEST_API_KEYS is required"):
        create_app(settings, metrics)


def test_without_admin_keys_the_admin_routes_answer_503(client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/admin/leaderboards"),
        ("GET", "/api/admin/leaderboards/laps"),
        ("PUT", "/api/admin/leaderboards/laps"),
        ("DELETE", "/api/admin/leaderboards/laps"),
        ("POST", "/api/admin/leaderboards/laps/reset"),
        ("DELETE", "/api/admin/leaderboards/laps/players/ada?reason=cheat"),
    ):
        answer = client.request(method, path, headers=AUTH, json={"title": "Laps"})
        assert answer.status_code == 503, (method, path)
        assert "LEADERBOARD_INGEST_ADMIN_KEYS" in answer.json()["detail"]


def test_the_admin_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    board = paths["/api/admin/leaderboards/{id}"]
    assert set(board) == {"put", "get", "delete"}
    assert {"200", "201", "401", "403", "422", "503"} <= set(board["put"]["responses"])
    assert board["put"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BoardSpec"
    }
    assert "404" in board["delete"]["responses"]
    assert "get" in paths["/api/admin/leaderboards"]
    assert "409" in board["put"]["responses"]
    assert [p["name"] for p in board["put"]["parameters"]] == ["id", "reset"]
    reset = paths["/api/admin/leaderboards/{id}/reset"]["post"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(reset["responses"])
    assert reset["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BoardReset"
    }
    removal = paths["/api/admin/leaderboards/{id}/players/{player_id}"]["delete"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(removal["responses"])
    reason = next(p for p in removal["parameters"] if p["name"] == "reason")
    assert (reason["in"], reason["required"]) == ("query", True)


def test_the_player_id_of_a_removal_follows_the_event_contract() -> None:
    (field,) = [m for m in get_args(PlayerId)[1:] if isinstance(m, FieldInfo)]
    (pattern,) = [m.pattern for m in field.metadata if hasattr(m, "pattern")]
    assert pattern == PLAYER_ID_PATTERN
