"""The archiver process stores every score event exactly once in PostgreSQL: with
duplicates and poison in the stream, whatever the deployment's bounds, across a SIGKILL,
across a 20 s outage of its own PostgreSQL server (never the shared one), and across a
SIGTERM during such an outage."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine, create_engine, text

from leaderboard.archiver.migrate import upgrade
from leaderboard.core.config import PostgresSettings
from leaderboard.core.database import database_url
from leaderboard.core.erasures import erasure_key
from leaderboard.core.events import SAFE_INTEGER, ScoreEvent
from leaderboard.core.kafka import admin_config
from leaderboard.devstack.postgres import PostgresServer
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.topics import TopicSpec, ensure_topics
from tests.support.outages import own_server, through_an_outage
from tests.support.scores import (
    make_event,
    produce,
    produce_in_background,
    random_events,
    totals,
)
from tests.support.services import ServiceProcess, free_port, http_status, metric_value, wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 6
OUTAGE_SECONDS = 20.0


def make_engine(settings: PostgresSettings) -> Engine:
    return create_engine(database_url(settings), pool_pre_ping=True)


@pytest.fixture(scope="module")
def shared_db(stack: DevstackSettings) -> Iterator[Engine]:
    """The shared stack's database, migrated (idempotent: other runs may have done it)."""
    engine = make_engine(stack)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def boards(shared_db: Engine) -> Iterator[list[str]]:
    """Two leaderboard ids of this test's own; their rows are removed afterwards."""
    names = [f"arch-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    yield names
    with shared_db.begin() as connection:
        connection.execute(
            text("DELETE FROM score_events WHERE leaderboard = ANY(:boards)"), {"boards": names}
        )


@pytest.fixture
def pipeline(stack: DevstackSettings) -> DevstackSettings:
    """The stack's settings with a score topic of this test's own (6 partitions, like
    game-score), so a new consumer group does not read everyone else's history."""
    topic = f"game-score-arch-{uuid.uuid4().hex[:10]}"
    ensure_topics(AdminClient(admin_config(stack)), [TopicSpec(topic, PARTITIONS)])
    return stack.model_copy(update={"topic_game_score": topic})


@pytest.fixture
def archivers(pipeline: DevstackSettings, tmp_path: Path) -> Iterator:
    """Starts archiver processes of one consumer group; kills leftovers at the end."""
    started: list[ServiceProcess] = []
    group = f"archiver-{uuid.uuid4().hex[:8]}"

    def start(batch_size: int = 100, postgres: PostgresSettings | None = None) -> ServiceProcess:
        database = postgres or pipeline
        env = {
            "LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS": pipeline.kafka_bootstrap_servers,
            "LEADERBOARD_TOPIC_GAME_SCORE": pipeline.topic_game_score,
            "LEADERBOARD_ARCHIVER_GROUP_ID": group,
            # A SIGKILLed archiver's partitions move after 6 s instead of 45 s.
            "LEADERBOARD_KAFKA_CONSUMER_CONFIG": '{"session.timeout.ms": 6000}',
            "LEADERBOARD_POSTGRES_HOST": database.postgres_host,
            "LEADERBOARD_POSTGRES_PORT": str(database.postgres_port),
            "LEADERBOARD_POSTGRES_USER": database.postgres_user,
            "LEADERBOARD_POSTGRES_DATABASE": database.postgres_database,
        }
        if database.postgres_password is not None:
            env["LEADERBOARD_POSTGRES_PASSWORD"] = database.postgres_password.get_secret_value()
        service = ServiceProcess("archiver", env, tmp_path, batch_size=batch_size)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.close()


def archived_totals(engine: Engine, boards: Sequence[str]) -> dict[str, Counter[str]]:
    """SUM(score) per leaderboard and player, as an analyst would query it."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT leaderboard, player_id, SUM(score) FROM score_events "
                "WHERE leaderboard = ANY(:boards) GROUP BY leaderboard, player_id"
            ),
            {"boards": list(boards)},
        ).all()
    result: dict[str, Counter[str]] = {}
    for board, player, total in rows:
        result.setdefault(board, Counter())[player] = int(total)
    return result


def archived_rows(engine: Engine, boards: Sequence[str]) -> list[tuple]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT event_id, kafka_partition, kafka_offset, archived_at "
                    "FROM score_events WHERE leaderboard = ANY(:boards)"
                ),
                {"boards": list(boards)},
            ).all()
        )


def row_count(engine: Engine, boards: Sequence[str]) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT COUNT(*) FROM score_events WHERE leaderboard = ANY(:boards)"),
            {"boards": list(boards)},
        ).scalar_one()


def wait_for_rows(engine: Engine, boards: Sequence[str], expected: int, timeout: float) -> None:
    wait_for(
        lambda: row_count(engine, boards) >= expected,
        timeout,
        f"{expected} archived rows",
        every=0.2,
    )


def assert_archived_exactly(engine: Engine, boards: Sequence[str], events: list[ScoreEvent]):
    rows = archived_rows(engine, boards)
    assert sorted(row.event_id for row in rows) == sorted(e.event_id for e in events)
    assert archived_totals(engine, boards) == totals(events)
    # Provenance: each row names the distinct record it was first read from.
    assert len({(row.kafka_partition, row.kafka_offset) for row in rows}) == len(rows)
    assert all(row.archived_at is not None for row in rows)
    return rows


def poison_values(sample: ScoreEvent) -> list[bytes]:
    valid = orjson.loads(sample.to_json())
    return [
        b"{not json",
        orjson.dumps({key: value for key, value in valid.items() if key != "player_id"}),
        orjson.dumps(valid | {"event_id": str(uuid.uuid4()), "score": SAFE_INTEGER + 1}),
        orjson.dumps(valid | {"event_id": str(uuid.uuid4()), "version": 2}),
    ]


def test_every_event_is_archived_once_and_poison_is_skipped(
    pipeline: DevstackSettings, archivers, boards: list[str], shared_db: Engine
) -> None:
    events = random_events(600, boards, players=40, seed=21)
    # Copies of already-produced events (same event_id): producer retries, replays.
    duplicates = events[:20] + events[350:355]
    poison = poison_values(events[0])
    produce(pipeline, events[:300], raw=poison[:2])
    archiver = archivers(batch_size=100)
    produce(pipeline, [*events[300:], *duplicates], raw=poison[2:])

    wait_for_rows(shared_db, boards, len(events), 60)

    def settled() -> str | None:
        metrics = archiver.metrics()
        handled = metric_value(metrics, "leaderboard_archiver_events_archived_total")
        handled += metric_value(metrics, "leaderboard_archiver_events_duplicate_total")
        rejected = sum(
            metric_value(metrics, "leaderboard_archiver_events_rejected_total", {"reason": r})
            for r in ("invalid_json", "invalid_fields", "score_out_of_bounds", "unknown_version")
        )
        return metrics if handled + rejected == len(events) + len(duplicates) + 4 else None

    metrics = wait_for(settled, 60, "the archiver to account for every message")
    rows = assert_archived_exactly(shared_db, boards, events)
    assert len({row.kafka_partition for row in rows}) > 1
    assert metric_value(metrics, "leaderboard_archiver_events_archived_total") == len(events)
    assert metric_value(metrics, "leaderboard_archiver_events_duplicate_total") == len(duplicates)
    for reason in ("invalid_json", "invalid_fields", "score_out_of_bounds", "unknown_version"):
        labels = {"reason": reason}
        assert metric_value(metrics, "leaderboard_archiver_events_rejected_total", labels) == 1
    assert metric_value(metrics, "leaderboard_archiver_insert_duration_seconds_count") > 0
    archiver.wait_ready()
    assert '"skipping a message that is not a valid score event"' in archiver.output()
    assert archiver.stop() == 0


def test_scores_outside_the_deployment_bounds_are_archived_within_the_contract(
    pipeline: DevstackSettings, archivers, boards: list[str], shared_db: Engine
) -> None:
    # The archiver runs with the default bounds, 1 to 1,000,000: a board's definition may
    # allow any of these scores, and the archive keeps every event accepted.
    scores = [0, -7, 5_000_000, SAFE_INTEGER, -SAFE_INTEGER]
    events = [make_event(f"p{index}", score, boards[0]) for index, score in enumerate(scores)]
    beyond = orjson.loads(make_event("p-beyond", 1, boards[0]).to_json())
    produce(pipeline, events, raw=[orjson.dumps(beyond | {"score": SAFE_INTEGER + 1})])
    archiver = archivers()

    wait_for_rows(shared_db, boards, len(events), 60)
    assert_archived_exactly(shared_db, boards, events)  # exact to the last unit (BIGINT)
    wait_for(
        lambda: (
            metric_value(
                archiver.metrics(),
                "leaderboard_archiver_events_rejected_total",
                {"reason": "score_out_of_bounds"},
            )
            == 1
        ),
        30,
        "the score beyond the contract to be rejected as score_out_of_bounds",
    )
    assert "contract limits [-9007199254740991, 9007199254740991]" in archiver.output()
    assert row_count(shared_db, boards) == len(events)


def test_sigkill_mid_stream_loses_and_doubles_nothing(
    pipeline: DevstackSettings, archivers, boards: list[str], shared_db: Engine
) -> None:
    events = random_events(3000, boards, players=100, seed=23)
    archiver = archivers(batch_size=50)
    producer = produce_in_background(pipeline, [events[i : i + 100] for i in range(0, 3000, 100)])
    try:
        wait_for(
            lambda: (
                (
                    metric_value(archiver.metrics(), "leaderboard_archiver_events_archived_total")
                    >= 300
                )
                if http_status(f"{archiver.base_url}/livez") == 200
                else False
            ),
            60,
            "the archiver to store part of the stream",
            every=0.02,
        )
        archiver.kill()
        archiver.start()
    finally:
        producer.join()
    wait_for_rows(shared_db, boards, len(events), 90)
    assert_archived_exactly(shared_db, boards, events)
    assert archiver.starts == 2


@pytest.fixture
def own_postgres(stack: DevstackSettings, tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own: the one the outage test stops."""
    with own_server(
        PostgresServer, stack, tmp_path, postgres_host="127.0.0.1", postgres_port=free_port()
    ) as server:
        yield server


def test_a_postgres_outage_delays_archiving_but_loses_nothing(
    pipeline: DevstackSettings, archivers, own_postgres: PostgresServer
) -> None:
    board = f"outage-{uuid.uuid4().hex[:10]}"
    events = random_events(2400, [board], players=60, seed=29)
    chunks = [events[i : i + 100] for i in range(0, len(events), 100)]
    database = make_engine(own_postgres.settings)
    try:
        # A fresh database: the archiver migrates it on start (the default).
        archiver = archivers(batch_size=100, postgres=own_postgres.settings).wait_ready(90)
        for chunk in chunks[:4]:
            produce(pipeline, chunk)
        wait_for_rows(database, [board], 400, 60)
        database.dispose()

        # Events keep flowing while the database is down; the archiver stops consuming.
        through_an_outage(archiver, own_postgres, pipeline, chunks[4:], OUTAGE_SECONDS)
        retries = metric_value(archiver.metrics(), "leaderboard_archiver_postgres_retries_total")
        assert retries > 0  # counted during the outage; the counter only grows
        wait_for_rows(database, [board], len(events), 90)
        assert_archived_exactly(database, [board], events)
        assert archiver.starts == 1  # it rode the outage out, no restart needed
        assert archiver.stop() == 0
    finally:
        database.dispose()


def test_sigterm_during_an_outage_exits_cleanly_and_the_batch_is_consumed_again(
    pipeline: DevstackSettings, archivers, own_postgres: PostgresServer
) -> None:
    board = f"stop-{uuid.uuid4().hex[:10]}"
    events = random_events(500, [board], players=20, seed=31)
    database = make_engine(own_postgres.settings)
    try:
        archiver = archivers(batch_size=100, postgres=own_postgres.settings).wait_ready(90)
        own_postgres.stop()
        produce(pipeline, events)
        wait_for(
            lambda: http_status(f"{archiver.base_url}/readyz") == 503,
            30,
            "the archiver to hit the outage",
        )
        # Stops retrying at once; a watchdog expiry would exit 70 instead of 0.
        assert archiver.stop() == 0
        assert "stopped during a PostgreSQL outage" in archiver.output()

        own_postgres.up()
        archiver.start()
        wait_for_rows(database, [board], len(events), 90)
        assert_archived_exactly(database, [board], events)
        assert archiver.stop() == 0
    finally:
        database.dispose()


def test_an_erased_players_events_are_not_archived(
    pipeline: DevstackSettings, archivers, shared_db: Engine, boards: list[str]
) -> None:
    erased = f"gone-{uuid.uuid4().hex[:10]}"
    with shared_db.begin() as connection:
        connection.execute(
            text("INSERT INTO erased_players (player_hash) VALUES (:hash)"),
            {"hash": erasure_key(erased)},
        )
    try:
        kept = random_events(50, boards, players=5)
        gone = [make_event(erased, 7, boards[0]) for _ in range(3)]
        produce(pipeline, [*kept[:25], *gone, *kept[25:]])
        archiver = archivers()
        wait_for_rows(shared_db, boards, len(kept), timeout=60)
        wait_for(
            lambda: (
                metric_value(archiver.metrics(), "leaderboard_archiver_events_erased_total")
                == len(gone)
            ),
            30,
            "the erased player's events to be counted as left out",
        )
        assert archived_totals(shared_db, boards) == totals(kept)
    finally:
        with shared_db.begin() as connection:
            connection.execute(
                text("DELETE FROM erased_players WHERE player_hash = :hash"),
                {"hash": erasure_key(erased)},
            )
