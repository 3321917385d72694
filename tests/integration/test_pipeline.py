"""The whole scoring pipeline on real servers: simulator and ingest API in, Redis,
PostgreSQL and published snapshots out, with identical per-player totals."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from redis import Redis
from sqlalchemy import create_engine, text

from leaderboard.core.database import database_url
from leaderboard.core.events import LeaderboardSnapshot
from leaderboard.core.kafka import consumer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import board_score
from leaderboard.devstack.settings import DevstackSettings
from tests.support.pipeline import Services, post_scores
from tests.support.scores import redis_totals
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

SIMULATED = 600


@pytest.fixture
def services(pipeline: DevstackSettings, tmp_path: Path) -> Iterator[Services]:
    started = Services(pipeline, tmp_path)
    yield started
    started.close()


def postgres_totals(engine, boards: list[str]) -> dict[str, Counter[str]]:
    query = text(
        "SELECT leaderboard, player_id, SUM(score) FROM score_events "
        "WHERE leaderboard = ANY(:boards) GROUP BY leaderboard, player_id"
    )
    result: dict[str, Counter[str]] = {board: Counter() for board in boards}
    with engine.connect() as connection:
        for board, player, total in connection.execute(query, {"boards": boards}):
            result[board][player] = int(total)
    return result


def test_scores_flow_to_redis_postgres_and_snapshots(
    pipeline: DevstackSettings, services, tmp_path: Path
) -> None:
    boards = [f"pipe-{uuid.uuid4().hex[:6]}", f"pipe-{uuid.uuid4().hex[:6]}"]
    services.start("archiver")
    ingest = services.scoring()  # ranker, publisher and the ingest API
    simulator = services.start(
        "simulator",
        LEADERBOARD_SIMULATOR_LEADERBOARDS=",".join(boards),
        LEADERBOARD_SIMULATOR_MAX_EVENTS=str(SIMULATED),
        LEADERBOARD_SIMULATOR_RATE="3000",
        LEADERBOARD_SIMULATOR_PLAYERS="40",
    )
    # A game server's submissions: one player only it scores for, and a retried event.
    retried = str(uuid.uuid4())
    submitted = [
        {"leaderboard": boards[0], "player_id": "game-server-hero", "score": 500},
        {"leaderboard": boards[1], "player_id": "game-server-hero", "score": 70},
        {"leaderboard": boards[0], "player_id": "player-1", "score": 9, "event_id": retried},
    ]
    post_scores(ingest, services.api_key, submitted)
    post_scores(ingest, services.api_key, [submitted[2]])  # the client retried: counts once

    wait_for(lambda: simulator.process.poll() is not None, 60, "the simulator to finish")
    assert simulator.process.returncode == 0, simulator.output()

    engine = create_engine(database_url(pipeline))
    redis = Redis(**pipeline.redis_client_kwargs())
    keys = RedisKeys(pipeline.redis_key_prefix)
    try:
        expected_rows = SIMULATED + len(submitted)

        def archived() -> bool:
            with engine.connect() as connection:
                count = connection.execute(
                    text("SELECT count(*) FROM score_events WHERE leaderboard = ANY(:b)"),
                    {"b": boards},
                ).scalar_one()
            return count == expected_rows

        wait_for(archived, 90, f"{expected_rows} archived rows")
        in_postgres = postgres_totals(engine, boards)
        wait_for(
            lambda: redis_totals(redis, keys, boards) == in_postgres,
            90,
            "Redis totals to equal PostgreSQL totals",
        )
        assert sum(sum(c.values()) for c in in_postgres.values()) > 0
        assert in_postgres[boards[0]]["game-server-hero"] == 500
        assert in_postgres[boards[1]]["game-server-hero"] == 70

        # The publisher caught up: the cached snapshot is the current top 10 ...
        def cached_top() -> LeaderboardSnapshot | None:
            raw = redis.get(keys.snapshot(boards[0]))
            return None if raw is None else LeaderboardSnapshot.model_validate_json(raw)

        top = redis.zrevrange(keys.board(boards[0]), 0, 9, withscores=True)
        expected_top = [(p.decode(), board_score(s)) for p, s in top]
        snapshot = wait_for(
            lambda: (
                (s := cached_top())
                and [(e.player_id, e.score) for e in s.entries] == expected_top
                and s
            ),
            60,
            "the cached snapshot to show the final top 10",
        )
        assert [e.rank for e in snapshot.entries] == list(range(1, 11))
        assert snapshot.newest_event_at is not None
        # ... and the same snapshot is on the compacted topic, keyed by leaderboard.
        reader = Consumer(consumer_config(pipeline, f"reader-{uuid.uuid4().hex[:6]}"))
        reader.subscribe([pipeline.topic_leaderboard])
        latest: dict[bytes, LeaderboardSnapshot] = {}

        def read_until_current() -> bool:
            for message in reader.consume(100, 0.5):
                if not message.error():
                    latest[message.key()] = LeaderboardSnapshot.model_validate_json(message.value())
            return latest.get(boards[0].encode()) == snapshot

        try:
            wait_for(read_until_current, 60, "the snapshot on the leaderboard topic")
        finally:
            reader.close()
    finally:
        redis.close()
        engine.dispose()
