"""The archiver's Alembic migrations on a real PostgreSQL: the `migrate` entry point is
idempotent and safe to run concurrently, downgrade/upgrade round-trips, the migrated
table matches the code's declaration, and an archiver facing an unmigrated database
stops with a clear instruction.

Each test works in a schema of its own on the shared server (selected with libpq's
``PGOPTIONS``/``options`` search_path), so dropping tables never touches the shared
``score_events`` other tests write to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from leaderboard.archiver.migrate import (
    MIGRATION_LOCK_KEY,
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from leaderboard.archiver.schema import TABLE_NAME, VERSION_TABLE, metadata
from leaderboard.core.database import database_url
from leaderboard.core.errors import DatabaseError
from leaderboard.devstack.settings import DevstackSettings
from tests.support.database import own_schema, schema_env, scoped_engine
from tests.support.services import REPO_ROOT, ServiceProcess, free_port, wait_for

pytestmark = pytest.mark.integration

#: The board definition tables of revision 0002 (the ingest service writes them).
ADMIN_TABLES = {"leaderboards", "leaderboard_revisions", "admin_audit", "erased_players"}
#: The closed periods' tables (revision 0005).
PERIOD_TABLES = {"period_closes", "period_standings"}


@pytest.fixture
def schema(stack: DevstackSettings) -> Iterator[str]:
    """An empty schema of this test's own, dropped with everything in it afterwards."""
    with own_schema(stack, "archiver_test") as name:
        yield name


@pytest.fixture
def engine(stack: DevstackSettings, schema: str) -> Iterator[Engine]:
    """An engine whose connections see only ``schema``."""
    engine = scoped_engine(stack, schema)
    yield engine
    engine.dispose()


def env_for(stack: DevstackSettings, schema: str, **extra: str) -> dict[str, str]:
    env = {
        "LEADERBOARD_LOG_FORMAT": "json",
        "LEADERBOARD_POSTGRES_HOST": stack.postgres_host,
        "LEADERBOARD_POSTGRES_PORT": str(stack.postgres_port),
        "LEADERBOARD_POSTGRES_USER": stack.postgres_user,
        "LEADERBOARD_POSTGRES_DATABASE": stack.postgres_database,
        **schema_env(schema),
        **extra,
    }
    if stack.postgres_password is not None:
        env["LEADERBOARD_POSTGRES_PASSWORD"] = stack.postgres_password.get_secret_value()
    return env


def run_migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leaderboard.archiver.migrate"],
        cwd=REPO_ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return current_revision(connection)


def test_migrate_twice_creates_then_does_nothing(
    stack: DevstackSettings, schema: str, engine: Engine
) -> None:
    first = run_migrate(env_for(stack, schema))
    assert first.returncode == 0, first.stdout + first.stderr
    assert '"schema migrated"' in first.stdout
    assert tables(engine) == {TABLE_NAME, VERSION_TABLE, *ADMIN_TABLES, *PERIOD_TABLES}
    assert revision(engine) == head_revision()

    second = run_migrate(env_for(stack, schema))
    assert second.returncode == 0, second.stdout + second.stderr
    assert '"schema already up to date"' in second.stdout
    assert revision(engine) == head_revision()


def waiting_for_migration_lock(connection: Connection) -> int:
    return connection.execute(
        text(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = 0 AND objid = :key AND objsubid = 1"
        ),
        {"key": MIGRATION_LOCK_KEY},
    ).scalar_one()


def test_concurrent_migrators_wait_for_each_other(
    stack: DevstackSettings, schema: str, engine: Engine
) -> None:
    # As when the Helm hook and archivers migrating on start race on a fresh database:
    # the test holds the migration lock until all three are queued on it, so they
    # really start together.
    env = os.environ | env_for(stack, schema)
    command = [sys.executable, "-m", "leaderboard.archiver.migrate"]
    observer = create_engine(database_url(stack))
    migrators: list[subprocess.Popen[str]] = []
    try:
        with observer.connect() as holder, observer.connect() as watcher:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            migrators = [
                subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(3)
            ]
            wait_for(
                lambda: waiting_for_migration_lock(watcher) >= 3,
                60,
                "three migrators to queue on the lock",
            )
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        outputs = [migrator.communicate(timeout=120)[0] for migrator in migrators]
    finally:
        for migrator in migrators:
            if migrator.poll() is None:
                migrator.kill()
                migrator.communicate()
        observer.dispose()
    assert [migrator.returncode for migrator in migrators] == [0, 0, 0], outputs
    # Exactly one of them did the work; the others waited for it and found it done.
    assert sum('"schema migrated"' in output for output in outputs) == 1
    assert sum('"schema already up to date"' in output for output in outputs) == 2
    assert revision(engine) == head_revision()


def test_the_migrated_table_matches_the_codes_declaration(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []


def test_downgrade_and_upgrade_round_trip(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO score_events (event_id, leaderboard, player_id, score, "
                "occurred_at, version, kafka_partition, kafka_offset) "
                "VALUES (:id, 'global', 'ada', 5, now(), 1, 0, 0)"
            ),
            {"id": uuid.uuid4()},
        )

    assert downgrade(engine, "0001") == (head_revision(), "0001")
    assert tables(engine) == {TABLE_NAME, VERSION_TABLE}
    assert downgrade(engine, "base") == ("0001", None)
    assert TABLE_NAME not in tables(engine)
    assert revision(engine) is None

    assert upgrade(engine) == (None, head_revision())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM score_events")).scalar_one() == 0
        indexes = {index["name"] for index in inspect(connection).get_indexes(TABLE_NAME)}
    assert indexes == {"ix_score_events_occurred_at", "ix_score_events_leaderboard_player_id"}


def test_the_schema_check_accepts_head_or_newer_and_names_the_fix_otherwise(
    engine: Engine,
) -> None:
    with pytest.raises(DatabaseError, match=r"python -m leaderboard\.archiver\.migrate"):
        check_schema(engine)
    upgrade(engine)
    assert check_schema(engine) == head_revision()
    # Newer code migrated past this one (a rolling deploy, a rollback): left alone.
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'from-the-future'"))
    assert check_schema(engine) == "from-the-future"
    assert upgrade(engine) == ("from-the-future", "from-the-future")


def test_an_unreachable_database_is_a_clear_failure(stack: DevstackSettings) -> None:
    port = free_port()
    result = run_migrate(
        {
            "LEADERBOARD_LOG_FORMAT": "json",
            "LEADERBOARD_POSTGRES_HOST": "127.0.0.1",
            "LEADERBOARD_POSTGRES_PORT": str(port),
        }
    )
    assert result.returncode == 1
    assert '"migration failed"' in result.stdout
    assert f"127.0.0.1:{port}" in result.stdout
    assert "Connection refused" in result.stdout


def test_the_archiver_refuses_an_unmigrated_database_with_instructions(
    stack: DevstackSettings, schema: str, engine: Engine, tmp_path: Path
) -> None:
    archiver = ServiceProcess(
        "archiver",
        env_for(
            stack,
            schema,
            LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS=stack.kafka_bootstrap_servers,
            LEADERBOARD_ARCHIVER_MIGRATE_ON_START="false",
        ),
        tmp_path,
    ).start()
    try:
        assert archiver.process is not None
        code = wait_for(lambda: archiver.process.poll(), 60, "the archiver to exit")
        assert code == 1
        output = archiver.output()
        assert "no table 'score_events'" in output
        assert "python -m leaderboard.archiver.migrate" in output
        assert tables(engine) == set()  # it did not create anything itself
    finally:
        archiver.close()
