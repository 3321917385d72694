"""The ingest API checks each score against its board's bounds, on the real Kafka and
PostgreSQL: a board defined through its own admin API with wider bounds than the
deployment's takes their scores within the 2 s the definitions feed promises, a narrower
one refuses its out-of-range scores with a 422 naming the board and its bounds, and a
deleted board falls back to the deployment's bounds.

The module uses topics, a Redis key prefix and a PostgreSQL schema of its own; the ingest
process runs with the deployment's default bounds, 1 to 1,000,000.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from leaderboard.core.events import SAFE_INTEGER
from leaderboard.devstack.settings import DevstackSettings
from tests.support.admin_api import ADMIN, SCORES, ingest_env, running_ingest
from tests.support.pipeline import isolated_settings
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

#: What the definitions feed promises (docs/architecture.md, "Board definitions").
PROPAGATION_SECONDS = 2.0


@pytest.fixture(scope="module")
def settings(stack: DevstackSettings) -> DevstackSettings:
    return isolated_settings(stack)


@pytest.fixture(scope="module")
def client(
    settings: DevstackSettings, schema: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx2.Client]:
    env = ingest_env(settings, schema, settings.topic_leaderboard_definitions)
    assert (settings.score_min, settings.score_max) == (1, 1_000_000)
    with running_ingest(env, tmp_path_factory.mktemp("ingest-bounds")) as http:
        yield http


def board() -> str:
    return f"bounds-{uuid.uuid4().hex[:10]}"


def define(client: httpx2.Client, board_id: str, **bounds: int) -> None:
    spec = {"title": f"Board {board_id}", **bounds}
    answer = client.put(f"/api/admin/leaderboards/{board_id}", json=spec, headers=ADMIN)
    assert answer.status_code == 201, answer.text


def submit(client: httpx2.Client, board_id: str, *scores: int) -> httpx2.Response:
    events = [{"leaderboard": board_id, "player_id": "ada", "score": score} for score in scores]
    return client.post("/api/scores", json=events, headers=SCORES)


def wait_for_status(client: httpx2.Client, board_id: str, score: int, expected: int) -> Any:
    """The answer to ``score`` on ``board_id`` once it is ``expected``, within the feed's
    promise (earlier answers may have stored the score: the topics are this module's)."""
    return wait_for(
        lambda: (answer := submit(client, board_id, score)).status_code == expected and answer,
        PROPAGATION_SECONDS,
        f"a score of {score} on {board_id!r} to answer {expected}",
    )


def test_a_board_defined_wider_than_the_deployment_takes_its_scores(
    client: httpx2.Client,
) -> None:
    wide = board()
    beyond_deployment = submit(client, wide, 5_000_000)
    assert beyond_deployment.status_code == 422  # no definition yet: 1 to 1,000,000

    define(client, wide, score_min=-1000, score_max=SAFE_INTEGER)
    wait_for_status(client, wide, 5_000_000, 202)
    answer = submit(client, wide, -1000, 0, SAFE_INTEGER)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 3


def test_a_score_outside_a_narrower_board_s_bounds_is_422_naming_them(
    client: httpx2.Client,
) -> None:
    narrow = board()
    define(client, narrow, score_min=10, score_max=20)
    answer = wait_for_status(client, narrow, 500, 422)
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", 0, "score"]
    assert error["type"] == "score_out_of_bounds"
    assert error["msg"] == f"score 500 is outside [10, 20], the bounds of leaderboard {narrow!r}"
    assert (error["ctx"]["leaderboard"], error["ctx"]["minimum"], error["ctx"]["maximum"]) == (
        narrow,
        10,
        20,
    )
    assert submit(client, narrow, 10, 20).status_code == 202


def test_a_deleted_board_falls_back_to_the_deployment_s_bounds(client: httpx2.Client) -> None:
    wide = board()
    define(client, wide, score_max=10**12)
    wait_for_status(client, wide, 10**12, 202)

    deleted = client.delete(f"/api/admin/leaderboards/{wide}", headers=ADMIN)
    assert deleted.status_code == 200, deleted.text
    answer = wait_for_status(client, wide, 10**12, 422)
    [error] = answer.json()["detail"]
    assert error["msg"] == (
        f"score {10**12} is outside [1, 1000000], the bounds of leaderboard {wide!r}"
    )


def test_a_definition_beyond_the_contract_is_refused_naming_the_field(
    client: httpx2.Client,
) -> None:
    spec = {"title": "Too wide", "score_max": SAFE_INTEGER + 1}
    answer = client.put(f"/api/admin/leaderboards/{board()}", json=spec, headers=ADMIN)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "score_max"]
    assert "contract limits [-9007199254740991, 9007199254740991]" in error["msg"]
