"""The Alembic scripts ship inside the package, form one line, and render the table,
its indexes and the archiver's own version table (offline, no server needed)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

import leaderboard.archiver
from leaderboard.archiver.migrate import SCRIPT_LOCATION, alembic_config, head_revision, main
from leaderboard.archiver.schema import VERSION_TABLE, score_events


def offline_sql(*args: str, downgrade: bool = False) -> str:
    config = alembic_config()
    config.output_buffer = io.StringIO()
    if downgrade:
        command.downgrade(config, *args, sql=True)
    else:
        command.upgrade(config, *args, sql=True)
    return config.output_buffer.getvalue()


def test_the_migrations_live_in_the_package_and_need_no_ini_file() -> None:
    assert SCRIPT_LOCATION.parent == Path(leaderboard.archiver.__file__).parent
    assert (SCRIPT_LOCATION / "env.py").is_file()
    assert alembic_config().config_file_name is None


def test_the_history_is_one_line_ending_at_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    for newer, older in itertools.pairwise(revisions):
        assert newer.down_revision == older.revision


def test_upgrade_creates_the_table_indexes_and_version_table() -> None:
    sql = offline_sql("head")
    assert "CREATE TABLE score_events" in sql
    assert "CONSTRAINT pk_score_events PRIMARY KEY (event_id)" in sql
    assert "CREATE INDEX ix_score_events_occurred_at ON score_events (occurred_at)" in sql
    assert (
        "CREATE INDEX ix_score_events_leaderboard_player_id "
        "ON score_events (leaderboard, player_id)" in sql
    )
    assert f"CREATE TABLE {VERSION_TABLE}" in sql
    for column in score_events.columns:
        assert f"\n    {column.name} " in sql


def test_downgrade_drops_what_upgrade_created() -> None:
    sql = offline_sql(f"{head_revision()}:base", downgrade=True)
    assert "DROP INDEX ix_score_events_occurred_at" in sql
    assert "DROP TABLE score_events" in sql


def test_the_migrate_command_names_a_bad_setting_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_POSTGRES_PORT", "not-a-port")
    assert main([]) == 2
    assert "LEADERBOARD_POSTGRES_PORT='not-a-port' is not an integer" in capsys.readouterr().err


def test_0002_creates_the_board_definition_tables_and_0001_stays_as_it_was() -> None:
    sql = offline_sql("0001:0002")
    assert "score_events" not in sql
    assert "CREATE TABLE leaderboards (" in sql
    assert "definition JSONB NOT NULL" in sql
    assert "CONSTRAINT pk_leaderboard_revisions PRIMARY KEY (leaderboard)" in sql
    assert "id BIGSERIAL NOT NULL" in sql
    assert "at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL" in sql
    assert "CREATE INDEX ix_admin_audit_leaderboard_at ON admin_audit (leaderboard, at)" in sql
    dropped = offline_sql("0002:0001", downgrade=True)
    for table in ("admin_audit", "leaderboard_revisions", "leaderboards"):
        assert f"DROP TABLE {table}" in dropped


def test_0003_adds_the_nullable_reset_time_of_a_board_and_nothing_else() -> None:
    sql = offline_sql("0002:0003")
    assert "ALTER TABLE leaderboards ADD COLUMN reset_at TIMESTAMP WITH TIME ZONE" in sql
    assert "NOT NULL" not in sql.split("ADD COLUMN reset_at", 1)[1].split(";", 1)[0]
    assert "CREATE TABLE" not in sql
    dropped = offline_sql("0003:0002", downgrade=True)
    assert "ALTER TABLE leaderboards DROP COLUMN reset_at" in dropped


def test_0004_creates_the_erased_players_list_keyed_by_hash() -> None:
    sql = offline_sql("0003:0004")
    assert "CREATE TABLE erased_players (" in sql
    assert "player_hash TEXT NOT NULL" in sql
    assert "CONSTRAINT uq_erased_players_player_hash UNIQUE (player_hash)" in sql
    assert "score_events" not in sql
    assert "DROP TABLE erased_players" in offline_sql("0004:0003", downgrade=True)
