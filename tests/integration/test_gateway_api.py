"""The gateway's REST API as a real process on the stack's Redis, edges included.

The standings are written directly (under a Redis key prefix of this module's own), so
every rank is known in advance: ties, rank 1, the last rank, radii past either end; and a
time-trial board is defined on the module's definitions topic before the gateway starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from redis import Redis

from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.gateway.api import MAX_LIMIT
from tests.support.pipeline import Services, isolated_settings, publish_definition
from tests.support.services import metric_value
from tests.support.standings import seed_standings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BOARD = f"api-{uuid.uuid4().hex[:8]}"
#: Player -> (score, when it was reached). Ties at 50 go to who reached 50 first: d, c, b.
SCORES = {
    "p-a": (100, T0),
    "p-b": (50, T0 + timedelta(seconds=3)),
    "p-c": (50, T0 + timedelta(seconds=2)),
    "p-d": (50, T0 + timedelta(seconds=1)),
    "p-e": (10, T0),
}
NAMES = {"p-a": "Ann", "p-d": "Dee"}
RANKED = ["p-a", "p-d", "p-c", "p-b", "p-e"]
#: A defined time trial: lowest lap time (ms) first.
LAPS_BOARD = f"laps-{uuid.uuid4().hex[:8]}"
LAPS = {"ann": (83_456, T0), "bob": (90_001, T0), "cy": (79_999, T0)}
LAPS_SPEC = {"title": "Lap times", "operator": "best", "sort": "asc", "format": "time_ms"}
#: A board that never resets: every answer is of its all-time standings.
ALL_TIME = {"period": "all", "period_ends_at": None}
DEFAULTS = {"sort": "desc", "format": "integer", "operator": "sum", **ALL_TIME}


@pytest.fixture(scope="module")
def gateway(stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = isolated_settings(stack)
    keys = RedisKeys(settings.redis_key_prefix)
    redis = Redis(**settings.redis_client_kwargs())
    services = Services(settings, tmp_path_factory.mktemp("gateway-api"))
    try:
        seed_standings(redis, keys, BOARD, SCORES)
        redis.hset(keys.names(BOARD), mapping=NAMES)
        seed_standings(redis, keys, LAPS_BOARD, LAPS, sort="asc")
        redis.sadd(keys.boards(), BOARD, LAPS_BOARD)
        publish_definition(settings, LAPS_BOARD, **LAPS_SPEC)
        process = services.gateway().wait_ready()  # ready: the definitions are read
        yield process.base_url
    finally:
        services.close()
        boards = (BOARD, LAPS_BOARD)
        redis.delete(
            *(keys.board(b) for b in boards),
            *(keys.reached(b) for b in boards),
            keys.names(BOARD),
            keys.boards(),
        )
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
    assert answer.json() == {
        "leaderboards": sorted(
            [
                {"id": BOARD, "players": 5, "title": BOARD, **DEFAULTS},
                {"id": LAPS_BOARD, "players": 3, **LAPS_SPEC, **ALL_TIME},
            ],
            key=lambda board: board["id"],
        )
    }


def test_top_pages_through_the_ranking_with_ties_in_a_fixed_order(api: httpx2.Client) -> None:
    first = api.get(f"/leaderboards/{BOARD}/top", params={"limit": 3}).json()
    assert first["total_players"] == 5
    assert first | {"title": BOARD, **DEFAULTS} == first  # undefined: the defaults
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


def test_a_time_trial_ranks_the_lowest_time_first_and_says_how_to_show_it(
    api: httpx2.Client,
) -> None:
    page = api.get(f"/leaderboards/{LAPS_BOARD}/top").json()
    assert page | LAPS_SPEC | ALL_TIME == page
    assert [(e["player_id"], e["score"]) for e in page["entries"]] == [
        ("cy", 79_999),
        ("ann", 83_456),
        ("bob", 90_001),
    ]
    ann = api.get(f"/leaderboards/{LAPS_BOARD}/players/ann/around", params={"radius": 1}).json()
    assert (ann["player"]["rank"], ann["player"]["score"]) == (2, 83_456)
    assert [(e["player_id"], e["score"]) for e in ann["above"] + ann["below"]] == [
        ("cy", 79_999),
        ("bob", 90_001),
    ]


def test_a_friends_list_gets_the_rows_of_those_with_a_score_by_rank(api: httpx2.Client) -> None:
    answer = api.get(f"/leaderboards/{BOARD}/players", params={"ids": "p-e,ghost,p-a,p-c"})
    assert answer.status_code == 200
    assert answer.json() == {
        "leaderboard": BOARD,
        "total_players": 5,
        "title": BOARD,
        **DEFAULTS,
        "entries": [
            {"rank": 1, "player_id": "p-a", "display_name": "Ann", "score": 100},
            {"rank": 3, "player_id": "p-c", "display_name": None, "score": 50},
            {"rank": 5, "player_id": "p-e", "display_name": None, "score": 10},
        ],
    }
    laps = api.get(f"/leaderboards/{LAPS_BOARD}/players", params={"ids": "bob,cy"}).json()
    assert laps | LAPS_SPEC | ALL_TIME == laps
    assert [(e["rank"], e["player_id"], e["score"]) for e in laps["entries"]] == [
        (1, "cy", 79_999),
        (3, "bob", 90_001),
    ]
    nobody = api.get(f"/leaderboards/{BOARD}/players", params={"ids": "ghost"}).json()
    assert (nobody["total_players"], nobody["entries"]) == (5, [])
    unknown = api.get("/leaderboards/nope/players", params={"ids": "p-a"})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "leaderboard 'nope' not found (no scores recorded on it)"
    repeated = api.get(f"/leaderboards/{BOARD}/players", params={"ids": "p-a,p-a"})
    assert repeated.status_code == 422
    assert "repeated: p-a" in repeated.json()["detail"][0]["msg"]


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


def test_requests_are_timed_by_route_template_and_status(gateway: str, api: httpx2.Client) -> None:
    api.get("/leaderboards/nope/top")
    api.get("/leaderboards/nope/top/")  # redirected before any route: no template
    api.get("/no-such-route/nope")
    metrics = httpx2.get(f"{gateway}/metrics", timeout=10).text
    name = "leaderboard_gateway_http_request_duration_seconds_count"
    route = "/api/leaderboards/{leaderboard_id}/top"
    assert metric_value(metrics, name, {"route": route, "method": "GET", "status": "404"}) >= 1
    assert metric_value(metrics, name, {"route": "none", "method": "GET", "status": "307"}) >= 1
    assert metric_value(metrics, name, {"route": "none", "method": "GET", "status": "404"}) >= 1
    assert "nope" not in metrics  # no path a client chose became a label


def test_the_docs_are_served(gateway: str, tmp_path: Path) -> None:
    assert httpx2.get(f"{gateway}/docs", timeout=10).status_code == 200
