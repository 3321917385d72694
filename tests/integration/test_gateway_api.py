"""The gateway's REST API as a real process on the stack's Redis, edges included.

The sorted sets are written directly (under a Redis key prefix of this module's own), so
every rank is known in advance: ties, rank 1, the last rank, radii past either end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from redis import Redis

from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.gateway.api import MAX_LIMIT
from tests.support.pipeline import Services, isolated_settings

pytestmark = pytest.mark.integration

BOARD = f"api-{uuid.uuid4().hex[:8]}"
#: Player -> score. Ties at 50 are ranked by player id in reverse order: d, c, b.
SCORES = {"p-a": 100, "p-b": 50, "p-c": 50, "p-d": 50, "p-e": 10}
NAMES = {"p-a": "Ann", "p-d": "Dee"}
RANKED = ["p-a", "p-d", "p-c", "p-b", "p-e"]


@pytest.fixture(scope="module")
def gateway(stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = isolated_settings(stack)
    keys = RedisKeys(settings.redis_key_prefix)
    redis = Redis(**settings.redis_client_kwargs())
    services = Services(settings, tmp_path_factory.mktemp("gateway-api"))
    try:
        redis.zadd(keys.board(BOARD), SCORES)
        redis.hset(keys.names(BOARD), mapping=NAMES)
        redis.sadd(keys.boards(), BOARD)
        process = services.gateway().wait_ready()
        yield process.base_url
    finally:
        services.close()
        redis.delete(keys.board(BOARD), keys.names(BOARD), keys.boards())
        redis.close()


@pytest.fixture(scope="module")
def api(gateway: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=f"{gateway}/api", timeout=10) as client:
        yield client


def ids(entries: list[dict]) -> list[str]:
    return [entry["player_id"] for entry in entries]


def test_the_leaderboards_are_listed_with_their_sizes(api: httpx2.Client) -> None:
    answer = api.get("/leaderboards")
    assert answer.status_code == 200
    assert answer.json() == {"leaderboards": [{"id": BOARD, "players": 5}]}


def test_top_pages_through_the_ranking_with_ties_in_a_fixed_order(api: httpx2.Client) -> None:
    first = api.get(f"/leaderboards/{BOARD}/top", params={"limit": 3}).json()
    assert first["total_players"] == 5
    assert ids(first["entries"]) == RANKED[:3]
    assert [e["rank"] for e in first["entries"]] == [1, 2, 3]
    assert first["entries"][0] == {
        "rank": 1,
        "player_id": "p-a",
        "display_name": "Ann",
        "score": 100,
    }
    second = api.get(f"/leaderboards/{BOARD}/top", params={"limit": 3, "offset": 3}).json()
    assert ids(second["entries"]) == RANKED[3:]
    assert [e["rank"] for e in second["entries"]] == [4, 5]
    past = api.get(f"/leaderboards/{BOARD}/top", params={"offset": 5})
    assert past.status_code == 200
    assert past.json()["entries"] == []


def test_the_page_size_is_capped(api: httpx2.Client) -> None:
    assert len(api.get(f"/leaderboards/{BOARD}/top").json()["entries"]) == 5  # default 10
    answer = api.get(f"/leaderboards/{BOARD}/top", params={"limit": MAX_LIMIT + 1})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "limit"]


def test_a_players_rank_and_score(api: httpx2.Client) -> None:
    top = api.get(f"/leaderboards/{BOARD}/players/p-a").json()
    assert top == {
        "leaderboard": BOARD,
        "total_players": 5,
        "rank": 1,
        "player_id": "p-a",
        "display_name": "Ann",
        "score": 100,
    }
    last = api.get(f"/leaderboards/{BOARD}/players/p-e").json()
    assert (last["rank"], last["score"], last["display_name"]) == (5, 10, None)
    tied = [api.get(f"/leaderboards/{BOARD}/players/{p}").json()["rank"] for p in RANKED[1:4]]
    assert tied == [2, 3, 4]


def test_neighbours_in_the_middle(api: httpx2.Client) -> None:
    body = api.get(f"/leaderboards/{BOARD}/players/p-c/around", params={"radius": 1}).json()
    assert body["player"]["rank"] == 3
    assert ids(body["above"]) == ["p-d"]
    assert ids(body["below"]) == ["p-b"]


def test_neighbours_at_the_top_and_bottom_edges(api: httpx2.Client) -> None:
    top = api.get(f"/leaderboards/{BOARD}/players/p-a/around", params={"radius": 2}).json()
    assert top["above"] == []
    assert ids(top["below"]) == ["p-d", "p-c"]
    bottom = api.get(f"/leaderboards/{BOARD}/players/p-e/around", params={"radius": 25}).json()
    assert ids(bottom["above"]) == RANKED[:4]
    assert [e["rank"] for e in bottom["above"]] == [1, 2, 3, 4]
    assert bottom["below"] == []
    alone = api.get(f"/leaderboards/{BOARD}/players/p-b/around", params={"radius": 0}).json()
    assert (alone["above"], alone["below"], alone["player"]["rank"]) == ([], [], 4)


def test_unknown_leaderboards_and_players_are_404_naming_them(api: httpx2.Client) -> None:
    for path in ("/leaderboards/nope/top", "/leaderboards/nope/players/p-a"):
        answer = api.get(path)
        assert answer.status_code == 404
        assert answer.json()["detail"] == "leaderboard 'nope' not found (no scores recorded on it)"
    for path in (
        f"/leaderboards/{BOARD}/players/ghost",
        f"/leaderboards/{BOARD}/players/ghost/around",
    ):
        answer = api.get(path)
        assert answer.status_code == 404
        assert answer.json()["detail"] == f"player 'ghost' not found on leaderboard '{BOARD}'"


def test_invalid_parameters_are_422(api: httpx2.Client) -> None:
    assert (
        api.get(f"/leaderboards/{BOARD}/players/p-a/around", params={"radius": -1}).status_code
        == 422
    )
    assert api.get(f"/leaderboards/{BOARD}/top", params={"offset": "x"}).status_code == 422
    assert api.get("/leaderboards/has.dot/top").status_code == 422


def test_requests_are_counted_by_status(gateway: str, api: httpx2.Client) -> None:
    api.get("/leaderboards/nope/top")
    metrics = httpx2.get(f"{gateway}/metrics", timeout=10).text
    assert 'leaderboard_gateway_api_requests_total{status="404"}' in metrics


def test_the_docs_are_served(gateway: str, tmp_path: Path) -> None:
    assert httpx2.get(f"{gateway}/docs", timeout=10).status_code == 200
