"""Past periods through the gateway as a real process, on the stack's Redis and PostgreSQL:
the list of a board's periods and ``?period=`` reads of a closed period (final standings
stored as the closer stores them, in this module's own schema) and of one still in Redis.

A monthly board in Europe/Berlin with no grace: this month is live, last month is closed
by time but not stored yet (read from Redis), the month before is stored and still has
keys in Redis (PostgreSQL wins), and the one before that is stored only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from redis import Redis
from sqlalchemy import Engine

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import Period, Schedule
from leaderboard.devstack.settings import DevstackSettings
from tests.support.closed_periods import store_closed_period
from tests.support.database import schema_env
from tests.support.periods import iso
from tests.support.pipeline import Services, isolated_settings, publish_definition
from tests.support.redis_keys import delete_keys
from tests.support.standings import seed_standings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTHLY = Schedule("monthly", "Europe/Berlin")
BOARD = f"cup-{uuid.uuid4().hex[:8]}"
FOREVER = f"ever-{uuid.uuid4().hex[:8]}"
#: A two-day cup whose window is over: its live period is its last, closed and stored.
OVER = f"over-{uuid.uuid4().hex[:8]}"
CUP = Schedule("daily", starts_at=T0, ends_at=T0 + timedelta(days=2))
CUP_LAST = CUP.period_named("2026-01-02")


def months_back(count: int) -> list[Period]:
    """This month and the ``count`` before it, newest first."""
    months = [MONTHLY.live_period(datetime.now(UTC))]
    for _ in range(count):
        before = MONTHLY.period_before(months[-1])
        assert before is not None
        months.append(before)
    return months


# M0 live; M1 closed by time, in Redis only; M2 stored and in Redis; M3 stored only;
# M4 in the Redis periods set with no players; M5 stored with no players.
M0, M1, M2, M3, M4, M5 = months_back(5)
REACHED = T0 + timedelta(seconds=1)
FINAL_M2 = [("ann", "Ann", 90, REACHED), ("bob", None, 70, REACHED), ("cy", "Cy", 50, REACHED)]
FINAL_M3 = [("dee", "Dee", 40, REACHED), ("ann", "Ann", 30, REACHED)]


@pytest.fixture(scope="module")
def gateway(
    stack: DevstackSettings,
    db: Engine,
    schema: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    settings = isolated_settings(stack)
    keys = RedisKeys(settings.redis_key_prefix)
    redis = Redis(**settings.redis_client_kwargs())
    services = Services(settings, tmp_path_factory.mktemp("past-periods"))
    try:
        definition = publish_definition(
            settings, BOARD, title="Monthly cup", reset="monthly", timezone="Europe/Berlin", grace=0
        )
        seed_standings(redis, keys, BOARD, {"ann": (5, T0)}, period=M0.id)
        seed_standings(redis, keys, BOARD, {"bob": (8, T0), "ann": (3, T0)}, period=M1.id)
        seed_standings(redis, keys, BOARD, {"old": (999, T0)}, period=M2.id)  # stale: closed
        redis.sadd(keys.periods(BOARD), M4.id)
        then = BoardDefinition.model_validate(definition.model_dump() | {"title": "Cup (then)"})
        store_closed_period(db, then, M2, FINAL_M2)
        store_closed_period(db, then, M3, FINAL_M3)
        store_closed_period(db, then, M5, [])
        seed_standings(redis, keys, FOREVER, {"zed": (1, T0)})
        cup = publish_definition(
            settings,
            OVER,
            title="Cup",
            reset="daily",
            starts_at=CUP.starts_at,
            ends_at=CUP.ends_at,
            grace=0,
        )
        assert CUP_LAST is not None
        store_closed_period(db, cup, CUP_LAST, [("ann", "Ann", 12, REACHED)])
        process = services.gateway(**schema_env(schema)).wait_ready()
        yield process.base_url
    finally:
        services.close()
        delete_keys(redis, keys.prefix)
        redis.close()


@pytest.fixture(scope="module")
def api(gateway: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=f"{gateway}/api/leaderboards", timeout=10) as client:
        yield client


def ids(entries: list[dict]) -> list[str]:
    return [entry["player_id"] for entry in entries]


def listed(period: Period, state: str, players: int, final: bool = False) -> dict:
    return {
        "id": period.id,
        "starts_at": iso(period.start),
        "ends_at": iso(period.end),
        "state": state,
        "players": players,
        "final": final,
    }


def test_periods_are_listed_newest_first_page_by_page(api: httpx2.Client) -> None:
    expected = [
        listed(M0, "open", 1),
        listed(M1, "closed", 2),  # closed by time, still read from Redis
        listed(M2, "closed", 3, final=True),  # PostgreSQL's, not Redis's stale keys
        listed(M3, "closed", 2, final=True),
    ]
    whole = api.get(f"/{BOARD}/periods").json()
    assert whole == {"leaderboard": BOARD, "periods": expected, "next_cursor": None}

    first = api.get(f"/{BOARD}/periods", params={"limit": 3}).json()
    assert first["periods"] == expected[:3]
    assert first["next_cursor"] is not None
    second = api.get(f"/{BOARD}/periods", params={"limit": 3, "cursor": first["next_cursor"]})
    assert second.json() == {"leaderboard": BOARD, "periods": expected[3:], "next_cursor": None}


def test_a_closed_period_is_answered_with_its_final_standings(api: httpx2.Client) -> None:
    top = api.get(f"/{BOARD}/top", params={"period": M2.id, "limit": 2}).json()
    assert top | {"title": "Cup (then)", "period": M2.id, "period_ends_at": iso(M2.end)} == top
    assert (top["total_players"], top["offset"], top["limit"]) == (3, 0, 2)
    assert top["entries"] == [
        {"rank": 1, "player_id": "ann", "display_name": "Ann", "score": 90},
        {"rank": 2, "player_id": "bob", "display_name": None, "score": 70},
    ]
    rest = api.get(f"/{BOARD}/top", params={"period": M2.id, "offset": 2}).json()
    assert ids(rest["entries"]) == ["cy"]

    friends = api.get(f"/{BOARD}/players", params={"period": M2.id, "ids": "cy,zed,ann"}).json()
    assert (ids(friends["entries"]), friends["period"]) == (["ann", "cy"], M2.id)
    bob = api.get(f"/{BOARD}/players/bob", params={"period": M2.id}).json()
    assert bob == {
        "leaderboard": BOARD,
        "total_players": 3,
        "rank": 2,
        "player_id": "bob",
        "display_name": None,
        "score": 70,
    }
    around = api.get(f"/{BOARD}/players/ann/around", params={"period": M3.id, "radius": 1})
    assert (around.json()["player"]["rank"], ids(around.json()["above"])) == (2, ["dee"])
    assert around.json()["below"] == []
    missing = api.get(f"/{BOARD}/players/old", params={"period": M2.id})
    assert missing.status_code == 404
    assert f"in period '{M2.id}'" in missing.json()["detail"]


def test_a_period_still_in_redis_and_the_live_one_are_read_from_redis(api: httpx2.Client) -> None:
    last = api.get(f"/{BOARD}/top", params={"period": M1.id}).json()
    assert (last["title"], last["period"], last["period_ends_at"]) == (
        "Monthly cup",
        M1.id,
        iso(M1.end),
    )
    assert ids(last["entries"]) == ["bob", "ann"]
    assert api.get(f"/{BOARD}/players/bob", params={"period": M1.id}).json()["rank"] == 1
    live = api.get(f"/{BOARD}/top", params={"period": M0.id}).json()
    assert live == api.get(f"/{BOARD}/top").json()
    assert ids(live["entries"]) == ["ann"]


@pytest.mark.parametrize("period", [M4, M5])
def test_a_known_period_without_players_is_empty_but_not_listed(
    api: httpx2.Client, period: Period
) -> None:
    answer = api.get(f"/{BOARD}/top", params={"period": period.id}).json()
    assert (answer["period"], answer["total_players"], answer["entries"]) == (period.id, 0, [])


@pytest.mark.parametrize("period", ["2019-01", "2026-W49", "all"])
def test_a_period_neither_live_nor_stored_nor_in_redis_is_404_naming_it(
    api: httpx2.Client, period: str
) -> None:
    answer = api.get(f"/{BOARD}/players/ann/around", params={"period": period})
    assert answer.status_code == 404
    assert f"period {period!r} not found on leaderboard {BOARD!r}" in answer.json()["detail"]


def test_a_board_that_never_resets_lists_its_one_period_and_an_unknown_board_is_404(
    api: httpx2.Client,
) -> None:
    forever = api.get(f"/{FOREVER}/periods").json()
    assert forever["periods"] == [
        {
            "id": "all",
            "starts_at": None,
            "ends_at": None,
            "state": "open",
            "players": 1,
            "final": False,
        }
    ]
    assert api.get(f"/{FOREVER}/top", params={"period": "all"}).json()["total_players"] == 1
    unknown = api.get(f"/nobody-{uuid.uuid4().hex[:6]}/periods")
    assert unknown.status_code == 404
    assert "not found (no scores recorded on it)" in unknown.json()["detail"]


def test_a_board_whose_window_is_over_shows_its_last_periods_final_standings(
    api: httpx2.Client,
) -> None:
    assert CUP_LAST is not None
    top = api.get(f"/{OVER}/top").json()
    assert (top["period"], ids(top["entries"]), top["total_players"]) == (CUP_LAST.id, ["ann"], 1)
    ann = api.get(f"/{OVER}/players/ann").json()
    assert (ann["rank"], ann["score"]) == (1, 12)
