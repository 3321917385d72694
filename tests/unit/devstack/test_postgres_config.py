"""PostgreSQL: our pg_hba.conf, finding the binaries, refusing unsafe role settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard.core.config import load_settings
from leaderboard.devstack import postgres
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.postgres import PostgresServer, find_postgres_bin, render_pg_hba
from leaderboard.devstack.settings import DevstackSettings


def rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def test_the_app_role_is_trusted_on_loopback_without_a_password() -> None:
    assert rules(render_pg_hba("leaderboard", app_password=False)) == [
        ["host", "all", '"leaderboard"', "127.0.0.1/32", "trust"],
        ["host", "all", '"leaderboard"', "::1/128", "trust"],
        ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
        ["host", "all", "all", "::1/128", "scram-sha-256"],
    ]


def test_with_a_password_everyone_authenticates() -> None:
    assert {rule[-1] for rule in rules(render_pg_hba("app", app_password=True))} == {
        "scram-sha-256"
    }


def test_no_unix_socket_rules() -> None:
    assert all(rule[0] == "host" for rule in rules(render_pg_hba("app", app_password=False)))


def test_the_highest_installed_version_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version, complete in (("9.6", True), ("13", True), ("16", False), ("15", True)):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "initdb").touch()
        if complete:
            (bin_dir / "postgres").touch()
    monkeypatch.setattr(postgres, "POSTGRESQL_ROOT", tmp_path)
    assert find_postgres_bin() == tmp_path / "15" / "bin"
    assert find_postgres_bin("13") == tmp_path / "13" / "bin"
    assert find_postgres_bin("16") is None


def test_nothing_installed_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "POSTGRESQL_ROOT", tmp_path / "missing")
    assert find_postgres_bin() is None


def test_the_app_role_may_not_be_the_superuser(tmp_path: Path) -> None:
    settings = load_settings(DevstackSettings, devstack_dir=tmp_path, postgres_user="postgres")
    with pytest.raises(DevstackError, match="LEADERBOARD_POSTGRES_USER"):
        PostgresServer(settings)


def test_role_names_that_pg_hba_cannot_quote_are_refused(tmp_path: Path) -> None:
    settings = load_settings(DevstackSettings, devstack_dir=tmp_path, postgres_user='bad"name')
    with pytest.raises(DevstackError, match="double quotes"):
        PostgresServer(settings)


def test_the_server_listens_on_tcp_loopback_only(tmp_path: Path) -> None:
    settings = load_settings(DevstackSettings, devstack_dir=tmp_path, postgres_port=15432)
    server = PostgresServer(settings)
    server._bin_dir = Path("/usr/lib/postgresql/15/bin")
    command = server.command()
    assert command[command.index("-p") + 1] == "15432"
    assert "listen_addresses=127.0.0.1" in command
    assert "unix_socket_directories=" in command
    assert server.matcher().matches(command[command.index("/usr/lib/postgresql/15/bin/postgres") :])
