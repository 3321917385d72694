"""A board that resets every minute, on the stack with a real publisher and gateway: REST
and snapshots are of the current minute's standings, and at the minute a new, empty
period's snapshot is published without any score.

The standings are written straight into the period's keys (where the ranker puts a
scheduled board's events) and a change notice is produced as the ranker would; every
check names the period it expects, computed from the board's schedule.
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
from tests.support.live_client import messages_until, next_snapshot, open_client, receive
from tests.support.periods import EVERY_MINUTE, MINUTELY, iso, minute_with_room
from tests.support.pipeline import Services, publish_definition, send_change_notice
from tests.support.services import ServiceProcess
from tests.support.standings import seed_standings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: The current minute's standings: ranked ada, bob, cy.
SCORES = {"ada": (30, T0), "bob": (20, T0), "cy": (10, T0)}
#: The board's all-time keys, which a board with a schedule never reads.
STALE = {"old": (999, T0)}


@pytest.fixture
def settings(pipeline: DevstackSettings) -> DevstackSettings:
    return pipeline


@pytest.fixture
def board(settings: DevstackSettings) -> str:
    """A board resetting every minute, defined before any service starts."""
    board = f"minute-{uuid.uuid4().hex[:8]}"
    publish_definition(settings, board, title="Minute sprint", reset=EVERY_MINUTE)
    return board


@pytest.fixture
def live(settings: DevstackSettings, tmp_path: Path, board: str) -> Iterator[ServiceProcess]:
    """A publisher and a gateway (ready); returns the gateway."""
    services = Services(settings, tmp_path)
    try:
        services.start("publisher", LEADERBOARD_PUBLISHER_INTERVAL_SECONDS="0.1").wait_ready()
        yield services.gateway().wait_ready()
    finally:
        services.close()


def ids(entries: list[dict]) -> list[str]:
    return [entry["player_id"] for entry in entries]


def test_rest_and_snapshots_are_of_the_current_minute(
    settings: DevstackSettings,
    redis: Redis,
    keys: RedisKeys,
    board: str,
    live: ServiceProcess,
) -> None:
    minute = minute_with_room(20)
    seed_standings(redis, keys, board, SCORES, names={"ada": "Ada"}, period=minute.id)
    seed_standings(redis, keys, board, STALE)  # all-time: never read
    described = {"period": minute.id, "period_ends_at": iso(minute.end)}

    with httpx2.Client(base_url=f"{live.base_url}/api", timeout=10) as api:
        top = api.get(f"/leaderboards/{board}/top").json()
        assert top | described == top
        assert (top["title"], top["total_players"]) == ("Minute sprint", 3)
        assert ids(top["entries"]) == ["ada", "bob", "cy"]
        assert top["entries"][0]["display_name"] == "Ada"
        friends = api.get(f"/leaderboards/{board}/players", params={"ids": "cy,old,ada"}).json()
        assert friends | described == friends
        assert ids(friends["entries"]) == ["ada", "cy"]
        bob = api.get(f"/leaderboards/{board}/players/bob").json()
        assert (bob["rank"], bob["score"], bob["total_players"]) == (2, 20, 3)
        around = api.get(f"/leaderboards/{board}/players/bob/around", params={"radius": 1})
        assert [ids(around.json()[side]) for side in ("above", "below")] == [["ada"], ["cy"]]
        stale = api.get(f"/leaderboards/{board}/players/old")
        assert stale.status_code == 404
        assert f"in period '{minute.id}'" in stale.json()["detail"]
        [listed] = api.get("/leaderboards").json()["leaderboards"]
        assert listed | described | {"id": board, "players": 3} == listed

    with open_client(live, board) as client:
        assert receive(client)["has_snapshot"] is False
        send_change_notice(settings, board)
        snapshot = next_snapshot(client)
    assert snapshot | described == snapshot
    assert [(e["player_id"], e["score"]) for e in snapshot["entries"]] == [
        ("ada", 30),
        ("bob", 20),
        ("cy", 10),
    ]


def test_at_the_minute_the_new_empty_period_is_published_without_a_score(
    settings: DevstackSettings,
    redis: Redis,
    keys: RedisKeys,
    board: str,
    live: ServiceProcess,
) -> None:
    minute = minute_with_room(10)
    seed_standings(redis, keys, board, SCORES, period=minute.id)
    with open_client(live, board, "?player=ada&radius=0") as client:
        send_change_notice(settings, board)
        first = messages_until(
            client,
            lambda read: (
                any(m["type"] == "snapshot" for m in read)
                and any(m["type"] == "player" and m["rank"] == 1 for m in read)
            ),
        )
        [snapshot] = [m for m in first if m["type"] == "snapshot"]
        assert (snapshot["period"], len(snapshot["entries"])) == (minute.id, 3)

        # Nothing is scored from here on: the new minute's snapshot comes on its own,
        # within seconds of the minute (the publisher checks about once a second; the
        # margin is for a loaded 2-core CI machine).
        assert minute.end is not None
        wait = (minute.end - datetime.now(UTC)).total_seconds() + 20
        rolled = messages_until(
            client,
            lambda read: (
                any(m["type"] == "snapshot" for m in read)
                and any(m["type"] == "player" and m["rank"] is None for m in read)
            ),
            timeout=wait,
        )
        arrived = datetime.now(UTC)
    [new] = [m for m in rolled if m["type"] == "snapshot"]
    following = MINUTELY.period_after(minute)
    assert following is not None
    assert (new["period"], new["period_ends_at"]) == (following.id, iso(following.end))
    assert new["entries"] == []
    assert new["newest_event_at"] is None
    assert new["version"] > snapshot["version"]
    assert arrived - minute.end < timedelta(seconds=10)
    # The watched player has no score in the new period.
    [watched] = [m for m in rolled if m["type"] == "player"]
    assert (watched["rank"], watched["entries"], watched["total"]) == (None, [], 0)

    with httpx2.Client(base_url=f"{live.base_url}/api", timeout=10) as api:
        top = api.get(f"/leaderboards/{board}/top")
    assert top.status_code == 200  # an empty period of a board with a schedule
    assert (top.json()["period"], top.json()["entries"]) == (new["period"], [])
