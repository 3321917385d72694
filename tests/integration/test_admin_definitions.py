"""The admin API's board definitions on the real PostgreSQL and Kafka: stored with a
revision and an audit row, published to the definitions topic (tombstones on delete),
idempotent, serialised per board across connections, refused clearly, and republished
from PostgreSQL when the service starts.

Each module run uses a PostgreSQL schema of its own (libpq ``PGOPTIONS`` search_path, as
the migration tests do) and a definitions topic of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import Engine, text

from leaderboard.core.boards import BoardDefinition, BoardSpec
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.ingest.definitions import Change, DefinitionStore
from tests.support.admin_api import (
    ADMIN,
    SCORES,
    audit,
    ingest_env,
    new_topic,
    records_of,
    running_ingest,
    topic_records,
)
from tests.support.services import ServiceProcess, free_port, http_status, wait_for

pytestmark = pytest.mark.integration

SPEC = {"title": "Lap times", "operator": "best", "sort": "asc", "format": "time_ms"}


@pytest.fixture(scope="module")
def topic(stack: DevstackSettings) -> str:
    return new_topic(stack)


@pytest.fixture
def start_ingest(
    stack: DevstackSettings, schema: str, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(topic: str, *, ready: bool = True, **extra: str) -> ServiceProcess:
        """An ingest process, ready; with ``ready`` False only live (it cannot be ready
        without a definitions topic to read)."""
        service = ServiceProcess(
            "ingest", ingest_env(stack, schema, topic, **extra), tmp_path, port=free_port()
        )
        started.append(service.start())
        if ready:
            service.wait_ready()
        else:
            wait_for(lambda: http_status(f"{service.base_url}/livez") == 200, 60, "ingest live")
        return service

    yield start
    for service in started:
        service.close()


@pytest.fixture(scope="module")
def client(
    stack: DevstackSettings, schema: str, topic: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx2.Client]:
    with running_ingest(ingest_env(stack, schema, topic), tmp_path_factory.mktemp("admin")) as http:
        yield http


def board() -> str:
    return f"lap-{uuid.uuid4().hex[:10]}"


def test_create_change_read_and_delete_a_board(
    client: httpx2.Client, stack: DevstackSettings, topic: str, db: Engine
) -> None:
    board_id = board()
    created = client.put(f"/api/admin/leaderboards/{board_id}", json=SPEC, headers=ADMIN)
    assert created.status_code == 201, created.text
    first = BoardDefinition.model_validate(created.json())
    assert (first.id, first.operator, first.sort, first.format) == (
        board_id,
        "best",
        "asc",
        "time_ms",
    )
    published = records_of(stack, topic, board_id)
    assert published
    assert published[-1] is not None
    assert BoardDefinition.from_json(published[-1]) == first

    # The same body again: nothing new stored, the same revision.
    again = client.put(f"/api/admin/leaderboards/{board_id}", json=SPEC, headers=ADMIN)
    assert again.status_code == 200
    assert BoardDefinition.model_validate(again.json()) == first

    changed = client.put(
        f"/api/admin/leaderboards/{board_id}", json={**SPEC, "title": "Laps"}, headers=ADMIN
    )
    assert changed.status_code == 200
    second = BoardDefinition.model_validate(changed.json())
    assert (second.title, second.revision) == ("Laps", first.revision + 1)
    assert BoardDefinition.from_json(records_of(stack, topic, board_id)[-1] or b"") == second

    read = client.get(f"/api/admin/leaderboards/{board_id}", headers=ADMIN)
    assert read.status_code == 200
    assert BoardDefinition.model_validate(read.json()) == second
    listed = client.get("/api/admin/leaderboards", headers=ADMIN).json()
    ids = [item["id"] for item in listed]
    assert board_id in ids
    assert ids == sorted(ids)

    deleted = client.delete(f"/api/admin/leaderboards/{board_id}", headers=ADMIN)
    assert deleted.status_code == 200
    assert deleted.json() | {"detail": ""} == {
        "id": board_id,
        "deleted": True,
        "revision": second.revision,
        "detail": "",
    }
    assert records_of(stack, topic, board_id)[-1] is None  # the tombstone
    assert client.get(f"/api/admin/leaderboards/{board_id}", headers=ADMIN).status_code == 404
    assert client.delete(f"/api/admin/leaderboards/{board_id}", headers=ADMIN).status_code == 404

    # Re-created: a revision above every one the topic has carried for this id.
    recreated = client.put(f"/api/admin/leaderboards/{board_id}", json=SPEC, headers=ADMIN)
    assert recreated.status_code == 201
    assert recreated.json()["revision"] == second.revision + 1

    spec = {"operator": "best", "sort": "asc", "format": "time_ms", "metadata": {}}
    spec |= {"score_min": None, "score_max": None, "top_n": None}
    spec |= {"reset": "none", "timezone": "UTC", "starts_at": None, "ends_at": None, "grace": 300}
    assert audit(db, board_id) == [
        ("ops", "created_leaderboard", {**spec, "title": "Lap times"}),
        ("ops", "updated_leaderboard", {**spec, "title": "Laps"}),
        ("ops", "delete_leaderboard", {**spec, "title": "Laps"}),
        ("ops", "created_leaderboard", {**spec, "title": "Lap times"}),
    ]


def test_keys_are_checked_by_role(client: httpx2.Client) -> None:
    url = f"/api/admin/leaderboards/{board()}"
    assert client.put(url, json=SPEC).status_code == 401
    assert client.put(url, json=SPEC, headers={"X-API-Key": "x" * 20}).status_code == 401
    refused = client.put(url, json=SPEC, headers=SCORES)
    assert refused.status_code == 403
    assert "not an admin key" in refused.json()["detail"]
    assert client.get("/api/admin/leaderboards", headers=SCORES).status_code == 403
    # An admin key does not submit scores.
    event = {"leaderboard": "global", "player_id": "ada", "score": 5}
    assert client.post("/api/scores", json=event, headers=ADMIN).status_code == 403
    assert client.get(url, headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("board_id", "body", "field"),
    [
        ("not an id!", SPEC, "id"),
        ("ok", {**SPEC, "operator": "max"}, "operator"),
        ("ok", {**SPEC, "sort": "up"}, "sort"),
        ("ok", {**SPEC, "top_n": 0}, "top_n"),
        ("ok", {"operator": "sum"}, "title"),
        ("ok", {**SPEC, "colour": "red"}, "colour"),
    ],
)
def test_invalid_requests_are_422_naming_the_field_and_change_nothing(
    client: httpx2.Client, db: Engine, board_id: str, body: dict[str, object], field: str
) -> None:
    answer = client.put(f"/api/admin/leaderboards/{board_id}", json=body, headers=ADMIN)
    assert answer.status_code == 422
    assert field in [error["loc"][-1] for error in answer.json()["detail"]]
    with db.connect() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM leaderboards WHERE id = 'ok'"))
        assert count.scalar_one() == 0


def test_a_change_kafka_did_not_take_is_stored_and_republished_at_start(
    start_ingest: Callable[..., ServiceProcess], stack: DevstackSettings, db: Engine
) -> None:
    # A topic that does not exist (the stack does not create topics on demand): the
    # commit succeeds, the produce cannot.
    missing = f"leaderboard-definitions-missing-{uuid.uuid4().hex[:10]}"
    board_id = board()
    service = start_ingest(missing, ready=False)
    with httpx2.Client(base_url=service.base_url, timeout=15) as http:
        answer = http.put(f"/api/admin/leaderboards/{board_id}", json=SPEC, headers=ADMIN)
        assert answer.status_code == 503
        assert "stored in PostgreSQL" in answer.json()["detail"]
        assert "republished" in answer.json()["detail"]
        stored = http.get(f"/api/admin/leaderboards/{board_id}", headers=ADMIN)
        assert stored.status_code == 200
        deleted_id = board()
        http.put(f"/api/admin/leaderboards/{deleted_id}", json=SPEC, headers=ADMIN)
        http.delete(f"/api/admin/leaderboards/{deleted_id}", headers=ADMIN)
    assert service.stop() == 0

    # A start against a fresh topic publishes every stored definition, and a tombstone
    # for every deleted board.
    fresh = new_topic(stack)
    start_ingest(fresh)
    expected = BoardDefinition.model_validate(stored.json())

    def republished() -> bool:
        return {board_id, deleted_id} <= {key for key, _ in topic_records(stack, fresh)}

    wait_for(republished, 60, "the stored definitions to be republished")
    assert BoardDefinition.from_json(records_of(stack, fresh, board_id)[-1] or b"") == expected
    assert records_of(stack, fresh, deleted_id) == [None]


def test_without_admin_keys_the_admin_routes_answer_503(
    start_ingest: Callable[..., ServiceProcess], topic: str
) -> None:
    service = start_ingest(topic, LEADERBOARD_INGEST_ADMIN_KEYS="")
    answer = httpx2.get(f"{service.base_url}/api/admin/leaderboards", headers=ADMIN, timeout=15)
    assert answer.status_code == 503
    assert "LEADERBOARD_INGEST_ADMIN_KEYS" in answer.json()["detail"]


def test_concurrent_writers_to_one_board_take_turns(db: Engine) -> None:
    # As two ingest replicas would: separate connections, one row lock per id.
    store = DefinitionStore(db)
    board_id = board()
    titles = [f"take {n}" for n in range(8)]
    with ThreadPoolExecutor(len(titles)) as pool:
        results = list(
            pool.map(lambda title: store.put(board_id, BoardSpec(title=title), "ops"), titles)
        )
    assert sorted(r.definition.revision for r in results) == list(range(1, len(titles) + 1))
    assert [r.change for r in results].count(Change.CREATED) == 1
    last = max(results, key=lambda r: r.definition.revision).definition
    assert store.get(board_id) == last
    assert len(audit(db, board_id)) == len(titles)
