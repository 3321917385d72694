"""The command line's exit codes and error reporting (no servers involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard.devstack.__main__ import local_admin_key, local_ingest_key, main
from leaderboard.devstack.settings import DevstackSettings
from tests.support.services import free_port


@pytest.fixture
def fresh_stack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEADERBOARD_DEVSTACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("LEADERBOARD_LOG_FORMAT", "json")
    monkeypatch.setenv("LEADERBOARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LEADERBOARD_PROMETHEUS_PORT", str(free_port()))
    return tmp_path / "stack"


def test_invalid_configuration_exits_2_naming_the_variable(
    fresh_stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_REDIS_PORT", "abc")
    assert main(["status"]) == 2
    captured = capsys.readouterr()
    assert "LEADERBOARD_REDIS_PORT='abc' is not an integer" in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_a_stack_error_exits_1_with_one_line(
    fresh_stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1,127.0.0.1:2")
    assert main(["up"]) == 1
    out = capsys.readouterr().out
    assert "exactly one loopback host:port" in out
    assert "Traceback" not in out


def test_status_of_a_stack_never_started_exits_1(
    fresh_stack_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    assert [line.split()[:2] for line in lines] == [
        ["kafka", "stopped"],
        ["redis", "stopped"],
        ["postgres", "stopped"],
        ["prometheus", "stopped"],
    ]
    assert not (fresh_stack_dir / "kafka").exists()  # status never creates anything


def test_an_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["start"])
    assert exit_info.value.code == 2


def test_the_local_admin_key_is_made_once_private_and_distinct(tmp_path: Path) -> None:
    settings = DevstackSettings(devstack_dir=tmp_path / "stack")
    admin = local_admin_key(settings)
    assert admin == tmp_path / "stack" / "admin-api-key"
    assert admin.stat().st_mode & 0o777 == 0o600
    key = admin.read_text().strip()
    assert len(key) >= 16
    assert local_admin_key(settings).read_text().strip() == key
    assert local_ingest_key(settings).read_text().strip() != key


def test_prometheus_without_its_binary_says_how_to_build_it(
    fresh_stack_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prometheus"]) == 1
    out = capsys.readouterr().out
    assert "make prometheus-tools" in out
    assert "Traceback" not in out
    assert not (fresh_stack_dir / "prometheus").exists()
