"""The admin API's resets and moderation on the real PostgreSQL, Redis and Kafka: a reset
clears a board's standings, records its time in Redis and in a new revision, and tells
the publisher; a change of operator or sort of a board with standings is refused unless
it resets the board; a moderation removes exactly one player's standing and is audited;
only admin keys may do either; scores never wait for Redis; an erasure removes a player
from every board, the archive and the audit, and keeps only its hash. On a board with
periods, each of them covers every period the board has in Redis.

The module uses a PostgreSQL schema, topics and a Redis key prefix of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from redis import Redis
from sqlalchemy import Engine, insert, select, text

from leaderboard.core.boards import BoardDefinition, BoardSpec
from leaderboard.core.erasures import PlayerErasure, erasure_key, redis_erasure_key
from leaderboard.core.events import ChangeNotice
from leaderboard.core.keys import RedisKeys
from leaderboard.core.period_tables import period_closes, period_standings
from leaderboard.core.periods import ALL_TIME
from leaderboard.core.standings import board_score, reach_code, reached_at, stored_score
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.ingest.standings import Standings
from tests.support.admin_api import (
    ADMIN,
    SCORES,
    audit,
    audit_rows,
    ingest_env,
    records_of,
    running_ingest,
)
from tests.support.pipeline import isolated_settings
from tests.support.redis_keys import delete_keys
from tests.support.services import ServiceProcess, free_port
from tests.support.standings import seed_standings

pytestmark = pytest.mark.integration

SUM = {"title": "Points"}
TIME_TRIAL = {"title": "Lap times", "operator": "best", "sort": "asc", "format": "time_ms"}
REACHED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
#: Allowed gap between this machine's clock and the database's (the same machine).
CLOCK_SLACK = timedelta(seconds=5)


@pytest.fixture(scope="module")
def settings(stack: DevstackSettings) -> DevstackSettings:
    """The stack with topics and a Redis key prefix of this module's own."""
    return isolated_settings(stack)


@pytest.fixture(scope="module")
def keys(settings: DevstackSettings, stack: DevstackSettings) -> Iterator[RedisKeys]:
    keys = RedisKeys(settings.redis_key_prefix)
    yield keys
    redis = Redis(**stack.redis_client_kwargs())
    delete_keys(redis, keys.prefix)
    redis.close()


@pytest.fixture(scope="module")
def client(
    settings: DevstackSettings,
    keys: RedisKeys,
    schema: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx2.Client]:
    env = ingest_env(settings, schema, settings.topic_leaderboard_definitions)
    with running_ingest(env, tmp_path_factory.mktemp("admin-standings")) as http:
        yield http


def board() -> str:
    return f"board-{uuid.uuid4().hex[:10]}"


def define(client: httpx2.Client, board_id: str, spec: dict[str, object]) -> BoardDefinition:
    answer = client.put(f"/api/admin/leaderboards/{board_id}", json=spec, headers=ADMIN)
    assert answer.status_code in (200, 201), answer.text
    return BoardDefinition.model_validate(answer.json())


def standings_of(redis: Redis, keys: RedisKeys, board_id: str) -> dict[str, int]:
    """Each player's integer score as stored (negated on an ascending board)."""
    return {
        player.decode(): board_score(score)
        for player, score in redis.zrange(keys.board(board_id), 0, -1, withscores=True)
    }


def notices_for(settings: DevstackSettings, board_id: str) -> list[ChangeNotice]:
    return [
        ChangeNotice.model_validate_json(value or b"")
        for value in records_of(settings, settings.topic_leaderboard_change, board_id)
    ]


def test_a_reset_clears_the_standings_and_records_when_in_redis_and_a_new_revision(
    client: httpx2.Client, settings: DevstackSettings, keys: RedisKeys, redis: Redis, db: Engine
) -> None:
    board_id, other = board(), board()
    first = define(client, board_id, SUM)
    seed_standings(
        redis, keys, board_id, {"ada": (50, REACHED), "bob": (30, REACHED)}, names={"ada": "Ada"}
    )
    seed_standings(redis, keys, other, {"ada": (7, REACHED)}, names={"ada": "Ada"})
    redis.set(keys.snapshot(board_id), b"{}")
    redis.set(keys.snapshot_version(board_id), 7)

    before = datetime.now(UTC)
    answer = client.post(
        f"/api/admin/leaderboards/{board_id}/reset", json={"reason": "season 2"}, headers=ADMIN
    )
    assert answer.status_code == 200, answer.text
    done = answer.json()
    reset_at = datetime.fromisoformat(done["reset_at"])
    assert done | {"reset_at": None, "detail": None} == {
        "id": board_id,
        "revision": first.revision + 1,
        "reset_at": None,
        "players_removed": 2,
        "detail": None,
    }
    assert before - CLOCK_SLACK <= reset_at <= datetime.now(UTC) + CLOCK_SLACK
    assert reset_at.utcoffset() == timedelta(0)

    # Redis: the board's standings, names and cached snapshot are gone, the reset is
    # recorded; the snapshot version keeps counting; another board is untouched.
    for key in (keys.board(board_id), keys.reached(board_id), keys.names(board_id)):
        assert not redis.exists(key), key
    assert not redis.exists(keys.snapshot(board_id))
    assert redis.get(keys.snapshot_version(board_id)) == b"7"
    assert redis.hget(keys.resets(), board_id) == reach_code(reset_at).encode()
    assert redis.sismember(keys.boards(), board_id)
    assert standings_of(redis, keys, other) == {"ada": 7.0}
    assert redis.hget(keys.names(other), "ada") == b"Ada"

    # PostgreSQL, the definitions topic and the publisher's notices agree.
    stored = BoardDefinition.model_validate(
        client.get(f"/api/admin/leaderboards/{board_id}", headers=ADMIN).json()
    )
    assert (stored.revision, stored.reset_at) == (first.revision + 1, reset_at)
    assert (
        BoardDefinition.from_json(
            records_of(settings, settings.topic_leaderboard_definitions, board_id)[-1] or b""
        )
        == stored
    )
    (notice,) = notices_for(settings, board_id)
    assert [(c.leaderboard, c.newest_event_at) for c in notice.changes] == [(board_id, reset_at)]
    row = audit_rows(db, board_id)[-1]
    assert (row.actor, row.action, row.reason) == ("ops", "reset_leaderboard", "season 2")
    assert row.detail == {"revision": stored.revision, "reset_at": reset_at.isoformat()}

    # A repeat is a new reset of an empty board; no body is needed.
    again = client.post(f"/api/admin/leaderboards/{board_id}/reset", headers=ADMIN)
    assert again.status_code == 200, again.text
    assert again.json()["revision"] == stored.revision + 1
    assert again.json()["players_removed"] == 0
    assert datetime.fromisoformat(again.json()["reset_at"]) >= reset_at
    assert audit_rows(db, board_id)[-1].reason is None


def test_a_reset_of_a_board_without_a_definition_is_404_and_changes_nothing(
    client: httpx2.Client, keys: RedisKeys, redis: Redis
) -> None:
    board_id = board()
    seed_standings(redis, keys, board_id, {"ada": (5, REACHED)})
    answer = client.post(f"/api/admin/leaderboards/{board_id}/reset", headers=ADMIN)
    assert answer.status_code == 404
    assert "definition" in answer.json()["detail"]
    assert standings_of(redis, keys, board_id) == {"ada": 5.0}
    assert redis.hget(keys.resets(), board_id) is None


def test_an_older_reset_never_undoes_a_later_one(keys: RedisKeys, redis: Redis) -> None:
    # Two replicas resetting one board at nearly the same time may reach Redis in the
    # other order: the older reset must not clear what counted after the later one.
    standings = Standings(redis, keys)
    board_id = board()
    later = REACHED + timedelta(seconds=1)
    seed_standings(redis, keys, board_id, {"ada": (5, REACHED)})
    assert standings.reset(board_id, later) == 1
    seed_standings(redis, keys, board_id, {"bob": (9, later + timedelta(seconds=1))})
    assert standings.reset(board_id, REACHED) is None
    assert standings_of(redis, keys, board_id) == {"bob": 9.0}
    assert redis.hget(keys.resets(), board_id) == reach_code(later).encode()
    assert standings.reset(board_id, later) == 1  # the same reset again: applied again


def test_changing_operator_or_sort_of_a_board_with_standings_needs_a_reset(
    client: httpx2.Client, keys: RedisKeys, redis: Redis, db: Engine
) -> None:
    board_id = board()
    first = define(client, board_id, SUM)
    seed_standings(redis, keys, board_id, {"ada": (50, REACHED)})
    url = f"/api/admin/leaderboards/{board_id}"

    for change in ({"operator": "best"}, {"sort": "asc"}):
        refused = client.put(url, json=SUM | change, headers=ADMIN)
        assert refused.status_code == 409, refused.text
        assert "?reset=true" in refused.json()["detail"]
    assert BoardDefinition.model_validate(client.get(url, headers=ADMIN).json()) == first
    assert standings_of(redis, keys, board_id) == {"ada": 50.0}
    assert len(audit(db, board_id)) == 1

    # Other fields change freely.
    retitled = define(client, board_id, SUM | {"title": "Points!", "top_n": 5})
    assert (retitled.revision, retitled.reset_at) == (first.revision + 1, None)

    # With ?reset=true: one revision carrying the new rule and the reset.
    answer = client.put(url, params={"reset": "true"}, json=TIME_TRIAL, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    changed = BoardDefinition.model_validate(answer.json())
    assert (changed.operator, changed.sort, changed.revision) == (
        "best",
        "asc",
        retitled.revision + 1,
    )
    assert changed.reset_at is not None
    assert standings_of(redis, keys, board_id) == {}
    assert redis.hget(keys.resets(), board_id) == reach_code(changed.reset_at).encode()
    assert [action for _, action, _ in audit(db, board_id)][-2:] == [
        "updated_leaderboard",
        "reset_leaderboard",
    ]

    # Without standings a change needs no reset, and keeps the last one.
    back = define(client, board_id, SUM)
    assert (back.revision, back.reset_at) == (changed.revision + 1, changed.reset_at)


def test_a_first_definition_of_a_ranked_board_keeps_the_default_rule_or_resets(
    client: httpx2.Client, keys: RedisKeys, redis: Redis
) -> None:
    # Standings of a board without a definition were summed, highest first.
    board_id = board()
    seed_standings(redis, keys, board_id, {"ada": (50, REACHED)})
    url = f"/api/admin/leaderboards/{board_id}"
    assert client.put(url, json=TIME_TRIAL, headers=ADMIN).status_code == 409
    assert client.get(url, headers=ADMIN).status_code == 404
    created = client.put(url, json=SUM, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert standings_of(redis, keys, board_id) == {"ada": 50.0}

    other = board()
    seed_standings(redis, keys, other, {"ada": (50, REACHED)})
    reset = client.put(
        f"/api/admin/leaderboards/{other}", params={"reset": "true"}, json=TIME_TRIAL, headers=ADMIN
    )
    assert reset.status_code == 201, reset.text
    assert reset.json()["reset_at"] is not None
    assert standings_of(redis, keys, other) == {}


def test_moderation_removes_exactly_that_player_and_audits_every_request(
    client: httpx2.Client, settings: DevstackSettings, keys: RedisKeys, redis: Redis, db: Engine
) -> None:
    board_id = board()
    define(client, board_id, TIME_TRIAL)
    seed_standings(
        redis,
        keys,
        board_id,
        {"ada": (83456, REACHED), "bob": (90000, REACHED)},
        sort="asc",
        names={"ada": "Ada", "bob": "Bob"},
    )
    url = f"/api/admin/leaderboards/{board_id}/players/ada"

    answer = client.delete(url, params={"reason": "impossible lap"}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"detail": None} == {
        "id": board_id,
        "player_id": "ada",
        "removed": True,
        "score": 83456,
        # As precisely as the stored score holds it (docs/architecture.md, "Ties").
        "reached_at": reached_at(stored_score(83456, REACHED, "asc"))
        .isoformat()
        .replace("+00:00", "Z"),
        "reason": "impossible lap",
        "detail": None,
    }
    assert standings_of(redis, keys, board_id) == {"bob": -90000.0}
    assert redis.hgetall(keys.reached(board_id)) == {b"bob": reach_code(REACHED).encode()}
    assert redis.hgetall(keys.names(board_id)) == {b"bob": b"Bob"}
    assert [c.leaderboard for n in notices_for(settings, board_id) for c in n.changes] == [board_id]

    again = client.delete(url, params={"reason": "impossible lap"}, headers=ADMIN)
    assert again.status_code == 200, again.text
    assert (again.json()["removed"], again.json()["score"]) == (False, None)
    assert standings_of(redis, keys, board_id) == {"bob": -90000.0}

    rows = [row for row in audit_rows(db, board_id) if row.action == "remove_player"]
    assert [(r.actor, r.player_id, r.reason, r.detail) for r in rows] == [
        (
            "ops",
            "ada",
            "impossible lap",
            {
                "removed": True,
                "period": "all",
                "score": 83456,
                "reached_at": reached_at(stored_score(83456, REACHED, "asc")).isoformat(),
                "periods": ["all"],
            },
        ),
        (
            "ops",
            "ada",
            "impossible lap",
            {"removed": False, "period": "all", "score": None, "reached_at": None, "periods": []},
        ),
    ]
    assert all(row.at is not None for row in rows)


def test_moderation_works_on_boards_without_a_definition_and_404s_unknown_ones(
    client: httpx2.Client, keys: RedisKeys, redis: Redis, db: Engine
) -> None:
    board_id = board()
    seed_standings(redis, keys, board_id, {"ada": (12, REACHED), "bob": (10, REACHED)})
    reason = {"reason": "abuse"}
    removed = client.delete(
        f"/api/admin/leaderboards/{board_id}/players/ada", params=reason, headers=ADMIN
    )
    assert removed.status_code == 200, removed.text
    assert (removed.json()["removed"], removed.json()["score"]) == (True, 12)
    assert standings_of(redis, keys, board_id) == {"bob": 10.0}
    absent = client.delete(
        f"/api/admin/leaderboards/{board_id}/players/nobody", params=reason, headers=ADMIN
    )
    assert (absent.status_code, absent.json()["removed"]) == (200, False)

    unknown = board()
    answer = client.delete(
        f"/api/admin/leaderboards/{unknown}/players/ada", params=reason, headers=ADMIN
    )
    assert answer.status_code == 404
    assert audit_rows(db, unknown) == []


@pytest.mark.parametrize(
    ("path", "params", "where"),
    [
        ("/players/ada", {}, "reason"),
        ("/players/ada", {"reason": ""}, "reason"),
        ("/players/ada", {"reason": "   "}, "reason"),
        ("/players/ada", {"reason": "x" * 501}, "reason"),
        ("/players/not%20a%20player", {"reason": "abuse"}, "player_id"),
    ],
)
def test_a_moderation_without_a_reason_or_with_a_bad_id_is_422_and_changes_nothing(
    client: httpx2.Client, keys: RedisKeys, redis: Redis, path: str, params: dict, where: str
) -> None:
    board_id = board()
    seed_standings(redis, keys, board_id, {"ada": (12, REACHED)})
    url = f"/api/admin/leaderboards/{board_id}{path}"
    answer = client.delete(url, params=params, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert where in [error["loc"][-1] for error in answer.json()["detail"]]
    assert standings_of(redis, keys, board_id) == {"ada": 12.0}


def test_resets_and_moderation_take_admin_keys_only(
    client: httpx2.Client, keys: RedisKeys, redis: Redis
) -> None:
    board_id = board()
    define(client, board_id, SUM)
    seed_standings(redis, keys, board_id, {"ada": (12, REACHED)})
    routes = [
        ("POST", f"/api/admin/leaderboards/{board_id}/reset"),
        ("DELETE", f"/api/admin/leaderboards/{board_id}/players/ada?reason=abuse"),
        ("PUT", f"/api/admin/leaderboards/{board_id}?reset=true"),
    ]
    for method, url in routes:
        assert client.request(method, url, json=SUM).status_code == 401, url
        wrong = {"X-API-Key": "x" * 24}
        assert client.request(method, url, json=SUM, headers=wrong).status_code == 401, url
        refused = client.request(method, url, json=SUM, headers=SCORES)
        assert refused.status_code == 403, url
        assert "not an admin key" in refused.json()["detail"]
    assert standings_of(redis, keys, board_id) == {"ada": 12.0}


def test_scores_and_plain_definition_changes_never_wait_for_redis(
    settings: DevstackSettings, schema: str, keys: RedisKeys, tmp_path: Path
) -> None:
    # Redis where nothing listens: the service is ready, takes scores and definitions
    # that need no standings; what needs Redis answers 503 saying what happened.
    env = ingest_env(
        settings,
        schema,
        settings.topic_leaderboard_definitions,
        LEADERBOARD_REDIS_PORT=str(free_port()),
    )
    service = ServiceProcess("ingest", env, tmp_path).start().wait_ready()
    try:
        with httpx2.Client(base_url=service.base_url, timeout=30) as http:
            event = {"leaderboard": board(), "player_id": "ada", "score": 5}
            assert http.post("/api/scores", json=event, headers=SCORES).status_code == 202
            board_id = board()
            url = f"/api/admin/leaderboards/{board_id}"
            assert http.put(url, json=SUM, headers=ADMIN).status_code == 201
            changed = http.put(url, json=TIME_TRIAL, headers=ADMIN)
            assert changed.status_code == 503
            assert "Redis is unavailable, nothing was changed" in changed.json()["detail"]
            removal = http.delete(f"{url}/players/ada", params={"reason": "x"}, headers=ADMIN)
            assert removal.status_code == 503
            assert "Redis" in removal.json()["detail"]
            reset = http.post(f"{url}/reset", headers=ADMIN)
            assert reset.status_code == 503
            assert "stored in PostgreSQL and published" in reset.json()["detail"]
            stored = http.get(url, headers=ADMIN).json()
            assert (stored["operator"], stored["revision"]) == ("sum", 2)
            assert stored["reset_at"] is not None
    finally:
        service.close()


def archive(db: Engine, board_id: str, player_id: str, count: int) -> None:
    """``count`` archived events of the player (as the archiver writes them)."""
    with db.begin() as connection:
        for offset in range(count):
            connection.execute(
                text(
                    "INSERT INTO score_events (event_id, leaderboard, player_id, display_name, "
                    "score, occurred_at, version, kafka_partition, kafka_offset) "
                    "VALUES (:id, :board, :player, :name, 5, now(), 1, 0, :offset)"
                ),
                {
                    "id": uuid.uuid4(),
                    "board": board_id,
                    "player": player_id,
                    "name": player_id.title(),
                    "offset": offset,
                },
            )


def archived(db: Engine, player_id: str) -> int:
    with db.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM score_events WHERE player_id = :p"), {"p": player_id}
            ).scalar_one()
        )


def test_an_erasure_removes_the_player_everywhere_and_keeps_only_its_hash(
    client: httpx2.Client, settings: DevstackSettings, keys: RedisKeys, redis: Redis, db: Engine
) -> None:
    gone, kept = f"gone-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    boards = sorted([board(), board()])
    untouched = board()
    for board_id in boards:
        seed_standings(
            redis,
            keys,
            board_id,
            {gone: (50, REACHED), kept: (40, REACHED)},
            names={gone: "Gone", kept: "Kept"},
        )
        archive(db, board_id, gone, 3)
        archive(db, board_id, kept, 2)
    seed_standings(redis, keys, untouched, {kept: (1, REACHED)})
    moderated = client.delete(
        f"/api/admin/leaderboards/{boards[0]}/players/{gone}",
        params={"reason": "cheating"},
        headers=ADMIN,
    )
    assert moderated.status_code == 200, moderated.text
    url = f"/api/admin/players/{gone}"
    assert client.delete(url).status_code == 401
    assert client.delete(url, headers=SCORES).status_code == 403

    answer = client.delete(url, headers=ADMIN)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["player_hash"] == erasure_key(gone)
    assert (body["already_erased"], body["archived_events_deleted"]) == (False, 6)
    assert body["audit_rows_pseudonymised"] == 1  # the moderation above
    assert body["boards"] == [boards[1]]  # the moderation took it off the first already
    for board_id in boards:
        assert set(standings_of(redis, keys, board_id)) == {kept}
        assert redis.hget(keys.reached(board_id), gone) is None
        assert redis.hget(keys.names(board_id), gone) is None
    assert redis.sismember(keys.erased(), redis_erasure_key(gone))
    assert (archived(db, gone), archived(db, kept)) == (0, 4)
    with db.connect() as connection:
        leaks = connection.execute(
            text("SELECT count(*) FROM admin_audit WHERE player_id = :p OR detail::text LIKE :l"),
            {"p": gone, "l": f"%{gone}%"},
        ).scalar_one()
    assert leaks == 0
    [published] = records_of(settings, settings.topic_player_erasures, erasure_key(gone))
    assert PlayerErasure.model_validate_json(published or b"").player_hash == erasure_key(gone)
    assert [c.leaderboard for n in notices_for(settings, boards[1]) for c in n.changes] == [
        boards[1]
    ]

    again = client.delete(url, headers=ADMIN)
    assert again.status_code == 200, again.text
    assert (again.json()["already_erased"], again.json()["archived_events_deleted"]) == (True, 0)
    assert again.json()["erased_at"] == body["erased_at"]
    assert client.delete("/api/admin/players/not%20an%20id", headers=ADMIN).status_code == 422


def test_an_erasure_removes_the_player_from_closed_periods_and_keeps_the_others_ranks(
    client: httpx2.Client, db: Engine
) -> None:
    gone, kept = f"gone-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    board_id = board()
    with db.begin() as connection:
        connection.execute(
            insert(period_closes).values(
                leaderboard=board_id,
                period="2026-01-01",
                ends_at=REACHED,
                players=2,
                definition={"title": "Daily"},
            )
        )
        connection.execute(
            insert(period_standings),
            [
                {
                    "leaderboard": board_id,
                    "period": "2026-01-01",
                    "rank": rank,
                    "player_id": player,
                    "score": score,
                    "reached_at": REACHED,
                }
                for rank, player, score in [(1, gone, 9), (2, kept, 5)]
            ],
        )

    answer = client.delete(f"/api/admin/players/{gone}", headers=ADMIN)

    assert answer.status_code == 200, answer.text
    with db.connect() as connection:
        rows = connection.execute(
            select(period_standings.c.rank, period_standings.c.player_id).where(
                period_standings.c.leaderboard == board_id
            )
        ).all()
    assert [tuple(row) for row in rows] == [(2, kept)]
    with db.connect() as connection:
        players = connection.execute(
            select(period_closes.c.players).where(period_closes.c.leaderboard == board_id)
        ).scalar_one()
    assert players == 1


# -- boards with periods -----------------------------------------------------------------

#: A daily board whose window is over: its live period is its last, whatever the day.
SEASON = {
    "title": "Two-day cup",
    "reset": "daily",
    "starts_at": "2026-01-01T00:00:00Z",
    "ends_at": "2026-01-03T00:00:00Z",
}
FIRST_DAY, LAST_DAY = "2026-01-01", "2026-01-02"


def keys_of(redis: Redis, keys: RedisKeys, board_id: str) -> list[str]:
    """Every key of the board's standings in Redis, in any period."""
    pattern = f"{keys.tag}:*:{board_id}*".replace("{", "\\{").replace("}", "\\}")
    return sorted(key.decode() for key in redis.scan_iter(match=pattern))


def test_a_reset_clears_every_period_of_a_board(
    client: httpx2.Client, keys: RedisKeys, redis: Redis
) -> None:
    board_id, other = board(), board()
    define(client, board_id, SEASON)
    seed_standings(redis, keys, board_id, {"ada": (5, REACHED), "bob": (4, REACHED)})
    seed_standings(redis, keys, board_id, {"ada": (3, REACHED)}, period=FIRST_DAY)
    seed_standings(
        redis,
        keys,
        board_id,
        {"ada": (9, REACHED), "cyd": (8, REACHED)},
        names={"ada": "Ada", "cyd": "Cyd"},
        period=LAST_DAY,
    )
    redis.set(keys.snapshot(board_id), b"{}")
    redis.set(keys.snapshot_version(board_id), 3)
    seed_standings(redis, keys, other, {"ada": (7, REACHED)}, period=LAST_DAY)

    answer = client.post(f"/api/admin/leaderboards/{board_id}/reset", headers=ADMIN)

    assert answer.status_code == 200, answer.text
    assert answer.json()["players_removed"] == 5  # standings, summed over the periods
    # Only the snapshot version is left (versions keep growing for the gateways).
    assert keys_of(redis, keys, board_id) == [keys.snapshot_version(board_id)]
    assert redis.hget(keys.resets(), board_id) is not None
    assert redis.zrange(keys.board(other, LAST_DAY), 0, -1) == [b"ada"]
    assert redis.smembers(keys.periods(other)) == {LAST_DAY.encode()}


def test_standings_only_in_a_period_still_need_a_reset_to_change_the_rule(
    client: httpx2.Client, keys: RedisKeys, redis: Redis
) -> None:
    board_id = board()
    define(client, board_id, SEASON)
    url = f"/api/admin/leaderboards/{board_id}"
    # A period listed without standings (its keys gone) is no standings.
    redis.sadd(keys.periods(board_id), FIRST_DAY)
    assert client.put(url, json=SEASON | {"operator": "best"}, headers=ADMIN).status_code == 200
    seed_standings(redis, keys, board_id, {"ada": (9, REACHED)}, period=LAST_DAY)
    assert not redis.exists(keys.board(board_id))

    refused = client.put(url, json=SEASON, headers=ADMIN)
    assert refused.status_code == 409, refused.text
    assert "?reset=true" in refused.json()["detail"]

    reset = client.put(url, params={"reset": "true"}, json=SEASON, headers=ADMIN)
    assert reset.status_code == 200, reset.text
    assert (reset.json()["operator"], reset.json()["reset_at"] is not None) == ("sum", True)
    assert keys_of(redis, keys, board_id) == []


def test_moderation_removes_the_player_from_every_period_and_answers_the_live_one(
    client: httpx2.Client, keys: RedisKeys, redis: Redis, db: Engine
) -> None:
    board_id = board()
    define(client, board_id, SEASON | {"sort": "asc"})
    schedule = BoardSpec.model_validate(SEASON).schedule
    assert schedule.live_period(datetime.now(UTC)).id == LAST_DAY
    first, last = REACHED, REACHED + timedelta(hours=1)
    seed_standings(
        redis,
        keys,
        board_id,
        {"ada": (700, first), "bob": (800, first), "cyd": (900, first)},
        sort="asc",
        names={"ada": "Ada", "bob": "Bob", "cyd": "Cyd"},
        period=FIRST_DAY,
    )
    seed_standings(
        redis,
        keys,
        board_id,
        {"ada": (600, last), "bob": (650, last)},
        sort="asc",
        period=LAST_DAY,
    )
    url = f"/api/admin/leaderboards/{board_id}/players"

    answer = client.delete(f"{url}/ada", params={"reason": "cheat"}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["removed"], body["score"]) == (True, 600)  # the last day's, not the first's
    assert datetime.fromisoformat(body["reached_at"]) == reached_at(stored_score(600, last, "asc"))
    for period, left in ((FIRST_DAY, {b"bob", b"cyd"}), (LAST_DAY, {b"bob"})):
        assert set(redis.zrange(keys.board(board_id, period), 0, -1)) == left, period
        assert redis.hexists(keys.reached(board_id, period), "bob")
        assert not redis.hexists(keys.reached(board_id, period), "ada")
    assert not redis.hexists(keys.names(board_id), "ada")

    # Standings only in a past period: removed, with no live score to answer.
    past = client.delete(f"{url}/cyd", params={"reason": "cheat"}, headers=ADMIN)
    assert (past.json()["removed"], past.json()["score"], past.json()["reached_at"]) == (
        True,
        None,
        None,
    )
    assert redis.zrange(keys.board(board_id, FIRST_DAY), 0, -1) == [b"bob"]

    details = [row.detail for row in audit_rows(db, board_id) if row.action == "remove_player"]
    assert [(d["period"], d["score"], sorted(d["periods"])) for d in details] == [
        (LAST_DAY, 600, [FIRST_DAY, LAST_DAY]),
        (LAST_DAY, None, [FIRST_DAY]),
    ]


def test_an_erasure_removes_the_player_from_every_period_of_every_board(
    client: httpx2.Client, keys: RedisKeys, redis: Redis
) -> None:
    gone, kept = f"gone-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    seasonal, plain, past_only = board(), board(), board()
    for period in (ALL_TIME, FIRST_DAY, LAST_DAY):
        seed_standings(
            redis, keys, seasonal, {gone: (5, REACHED), kept: (4, REACHED)}, period=period
        )
    seed_standings(redis, keys, plain, {gone: (5, REACHED), kept: (4, REACHED)})
    seed_standings(redis, keys, past_only, {gone: (5, REACHED)}, period=FIRST_DAY)

    answer = client.delete(f"/api/admin/players/{gone}", headers=ADMIN)

    assert answer.status_code == 200, answer.text
    assert answer.json()["boards"] == sorted([seasonal, plain, past_only])
    for board_id, period in [
        (seasonal, ALL_TIME),
        (seasonal, FIRST_DAY),
        (seasonal, LAST_DAY),
        (plain, ALL_TIME),
        (past_only, FIRST_DAY),
    ]:
        assert redis.zscore(keys.board(board_id, period), gone) is None, (board_id, period)
        assert not redis.hexists(keys.reached(board_id, period), gone), (board_id, period)
    assert redis.zscore(keys.board(seasonal, FIRST_DAY), kept) is not None
    assert redis.zscore(keys.board(plain), kept) is not None
