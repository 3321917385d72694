"""The ingest API as a real process against the stack's Kafka: accepted means stored.

One ingest process serves most tests (start-up costs seconds on a loaded machine); the
Kafka-down and SIGTERM tests start their own. They write to a score topic of this
module's own (so nothing lands in the ``game-score`` that ``make run`` consumes); events
are read back from the end offsets recorded before posting and picked out by the event
ids the API returned.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import httpx2
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from leaderboard.core.events import ScoreBounds, decode_score_event
from leaderboard.core.kafka import admin_config, consumer_config
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import GAME_SCORE_PARTITIONS, TopicSpec, ensure_topics
from tests.support.services import ServiceProcess, free_port, http_status, metric_value, wait_for

pytestmark = pytest.mark.integration

KEY = secrets.token_urlsafe(24)
OLD_KEY = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_EVENTS = 50
MAX_BODY = 1024 * 1024  # IngestSettings.max_body_bytes at MAX_EVENTS
DEADLINE = 3.0
# Interpreter and librdkafka overhead on a loaded 2-core machine, on top of the deadline.
SLACK = 7.0


@pytest.fixture(scope="module")
def stack(stack: DevstackSettings) -> DevstackSettings:
    """The session's stack, with a score topic of this module's own."""
    settings = stack.model_copy(
        update={"topic_game_score": f"game-score-ingest-{uuid.uuid4().hex[:10]}"}
    )
    ensure_topics(
        AdminClient(admin_config(settings)),
        [TopicSpec(settings.topic_game_score, GAME_SCORE_PARTITIONS)],
    )
    return settings


def ingest_env(stack: DevstackSettings, port: int, **overrides: str) -> dict[str, str]:
    return {
        "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "LEADERBOARD_TOPIC_GAME_SCORE": stack.topic_game_score,
        "LEADERBOARD_HTTP_PORT": str(port),
        "LEADERBOARD_INGEST_API_KEYS": f"game:{KEY},old:{OLD_KEY}",
        "LEADERBOARD_INGEST_DISABLED_KEYS": "old",
        "LEADERBOARD_INGEST_MAX_BATCH_EVENTS": str(MAX_EVENTS),
        "LEADERBOARD_INGEST_REQUEST_TIMEOUT_SECONDS": str(DEADLINE),
        "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS": "5",
        **overrides,
    }


@pytest.fixture
def start_ingest(stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    started: list[ServiceProcess] = []

    def start(**overrides: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(
            "ingest",
            ingest_env(stack, port, **overrides),
            tmp_path_factory.mktemp("ingest"),
            port=port,
        )
        started.append(service.start())
        return service

    yield start
    for service in started:
        service.close()


@pytest.fixture(scope="module")
def ingest(stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    port = free_port()
    service = ServiceProcess(
        "ingest", ingest_env(stack, port), tmp_path_factory.mktemp("ingest"), port=port
    )
    service.start().wait_ready()
    yield service
    service.close()


@pytest.fixture
def client(ingest: ServiceProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=ingest.base_url, timeout=DEADLINE + SLACK) as http:
        yield http


def end_offsets(stack: DevstackSettings) -> list[TopicPartition]:
    """Where each partition of game-score ends now: read from there to see new events."""
    consumer = Consumer(consumer_config(stack, f"ingest-test-{uuid.uuid4().hex}"))
    try:
        topic = consumer.list_topics(stack.topic_game_score, timeout=30).topics[
            stack.topic_game_score
        ]
        ends = []
        for partition in topic.partitions:
            _, high = consumer.get_watermark_offsets(
                TopicPartition(stack.topic_game_score, partition), timeout=30
            )
            ends.append(TopicPartition(stack.topic_game_score, partition, high))
        return ends
    finally:
        consumer.close()


def read_back(
    stack: DevstackSettings, start: list[TopicPartition], event_ids: list[str]
) -> dict[str, tuple[bytes, bytes]]:
    """The key and value of each wanted event, read from game-score after ``start``."""
    wanted = set(event_ids)
    found: dict[str, tuple[bytes, bytes]] = {}
    consumer = Consumer(consumer_config(stack, f"ingest-test-{uuid.uuid4().hex}"))
    consumer.assign(start)

    def collect() -> bool:
        for message in consumer.consume(500, timeout=0.5):
            if message.error() is None:
                event_id = orjson.loads(message.value()).get("event_id")
                if event_id in wanted:
                    found[event_id] = (message.key(), message.value())
        return found.keys() == wanted

    try:
        wait_for(collect, 60, f"events {sorted(wanted - found.keys())} in game-score")
    finally:
        consumer.close()
    return found


def test_a_single_event_and_a_batch_are_stored_in_game_score(
    stack: DevstackSettings, client: httpx2.Client
) -> None:
    board = f"ingest-{uuid.uuid4().hex[:12]}"
    start = end_offsets(stack)
    given = str(uuid.uuid4())

    single = client.post(
        "/api/scores", json={"leaderboard": board, "player_id": "ada", "score": 7}, headers=AUTH
    )
    batch = client.post(
        "/api/scores",
        json=[
            {"leaderboard": board, "player_id": "bob", "score": 1, "display_name": "Bob"},
            {"leaderboard": board, "player_id": "cy", "score": 2, "event_id": given},
            {
                "leaderboard": board,
                "player_id": "di",
                "score": 3,
                "occurred_at": "2026-11-27T10:00:00+00:00",
                "version": 1,
            },
        ],
        headers=AUTH,
    )

    assert single.status_code == 202, single.text
    assert batch.status_code == 202, batch.text
    assert batch.json()["accepted"] == 3
    ids = single.json()["event_ids"] + batch.json()["event_ids"]
    assert ids[2] == given
    stored = read_back(stack, start, ids)
    events = {
        event_id: (key, decode_score_event(value, ScoreBounds()))
        for event_id, (key, value) in stored.items()
    }
    expected = [("ada", 7, None), ("bob", 1, "Bob"), ("cy", 2, None), ("di", 3, None)]
    for event_id, (player, score, name) in zip(ids, expected, strict=True):
        key, event = events[event_id]
        assert key == f"{board}:{player}".encode()
        assert (event.leaderboard, event.player_id, event.score, event.display_name) == (
            board,
            player,
            score,
            name,
        )
        assert event.version == 1
    assert events[ids[3]][1].occurred_at.isoformat() == "2026-11-27T10:00:00+00:00"


def test_a_retried_event_keeps_its_event_id(stack: DevstackSettings, client: httpx2.Client) -> None:
    event_id = str(uuid.uuid4())
    body = {"leaderboard": f"ingest-{uuid.uuid4().hex[:12]}", "player_id": "ada", "score": 5}
    start = end_offsets(stack)
    first = client.post("/api/scores", json=body | {"event_id": event_id}, headers=AUTH)
    retry = client.post("/api/scores", json=body | {"event_id": event_id}, headers=AUTH)
    assert first.status_code == retry.status_code == 202
    assert first.json()["event_ids"] == retry.json()["event_ids"] == [event_id]
    # Both copies are in Kafka with the same id; the consumers keep one.
    assert read_back(stack, start, [event_id])


def event(**fields: object) -> dict[str, object]:
    return {"player_id": "ada", "score": 5} | fields


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"score": 5}, ["body", "player_id"], "Field required"),
        (event(score="5"), ["body", "score"], "Input should be a valid integer"),
        (event(score=0), ["body", "score"], "score 0 is outside [1, 1000000]"),
        (
            [event(), event(score=1_000_001)],
            ["body", 1, "score"],
            "score 1000001 is outside [1, 1000000]",
        ),
        (
            event(version=2),
            ["body", "version"],
            "unsupported schema version 2: this service accepts version 1",
        ),
        (event(rank=1), ["body", "rank"], "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_event_is_422_saying_what_and_where(
    client: httpx2.Client, body: object, loc: list[object], message: str
) -> None:
    answer = client.post("/api/scores", json=body, headers=AUTH)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == loc
    assert message in error["msg"]


def test_a_body_over_the_size_limit_is_413(client: httpx2.Client) -> None:
    answer = client.post("/api/scores", content=b"[" + b" " * MAX_BODY + b"]", headers=AUTH)
    assert answer.status_code == 413
    assert f"over the limit of {MAX_BODY} bytes (1 MiB)" in answer.json()["detail"]


def test_too_many_events_is_413_saying_the_limit(client: httpx2.Client) -> None:
    answer = client.post("/api/scores", json=[event()] * (MAX_EVENTS + 1), headers=AUTH)
    assert answer.status_code == 413
    assert f"over the limit of {MAX_EVENTS} events per request" in answer.json()["detail"]


def test_no_or_unknown_key_is_401_and_a_disabled_key_403(client: httpx2.Client) -> None:
    missing = client.post("/api/scores", json=event())
    unknown = client.post("/api/scores", json=event(), headers={"X-API-Key": "x" * 32})
    disabled = client.post("/api/scores", json=event(), headers={"X-API-Key": OLD_KEY})
    assert missing.status_code == unknown.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "missing API key" in missing.json()["detail"]
    assert unknown.json()["detail"] == "unknown API key"
    assert disabled.status_code == 403
    assert "'old' is disabled" in disabled.json()["detail"]


def test_probes_metrics_and_docs(ingest: ServiceProcess, client: httpx2.Client) -> None:
    client.post("/api/scores", json=event(), headers=AUTH)
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["kafka"]["ok"] is True
    assert client.get("/docs").status_code == 200
    assert "event_id" in client.get("/openapi.json").json()["info"]["description"]
    metrics = ingest.metrics()
    accepted = {"route": "/api/scores", "method": "POST", "status": "202"}
    requests = "leaderboard_ingest_http_request_duration_seconds_count"
    assert metric_value(metrics, requests, accepted) >= 1
    assert 'route="/livez"' not in metrics  # probes are not timed
    assert "leaderboard_ingest_events_accepted_total" in metrics
    assert "leaderboard_ingest_produce_duration_seconds_count" in metrics
    assert KEY not in ingest.output()
    assert OLD_KEY not in ingest.output()


def test_kafka_down_answers_503_within_the_deadline(start_ingest) -> None:
    # A loopback port nothing listens on: a Kafka that is down, without touching the stack.
    service: ServiceProcess = start_ingest(
        LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}"
    )

    def live() -> bool:
        service.assert_running()
        return http_status(f"{service.base_url}/livez") == 200

    wait_for(live, 60, "ingest to be live")
    # The client gives up past the deadline plus slack, so a hanging request fails the test.
    with httpx2.Client(base_url=service.base_url, timeout=DEADLINE + SLACK) as http:
        answer = http.post("/api/scores", json=event(), headers=AUTH)
        assert answer.status_code == 503, answer.text
        assert "Kafka" in answer.json()["detail"]
        assert len(answer.json()["event_ids"]) == 1
        assert answer.headers["Retry-After"] == "1"
        assert http.get("/readyz").status_code == 503
    assert service.stop() == 0


def test_sigterm_flushes_and_exits_zero(start_ingest) -> None:
    service: ServiceProcess = start_ingest()
    service.wait_ready()
    with httpx2.Client(base_url=service.base_url, timeout=DEADLINE + SLACK) as http:
        assert http.post("/api/scores", json=event(), headers=AUTH).status_code == 202
    assert service.stop() == 0
    assert "Kafka producer flushed and closed" in service.output()
