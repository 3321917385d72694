"""Installing a missing Debian package: only as root, retried once after an update."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard.devstack import packages
from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.packages import ensure_package


def test_an_installed_program_needs_nothing(tmp_path: Path) -> None:
    found = ensure_package(
        lambda: Path("/bin/sh"), "dash", what="a shell", log_file=tmp_path / "apt.log", timeout=1
    )
    assert found == Path("/bin/sh")
    assert not (tmp_path / "apt.log").exists()


def test_without_root_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packages, "is_root", lambda: False)
    with pytest.raises(DevstackError, match=r"install the Debian package 'redis-server'"):
        ensure_package(
            lambda: None, "redis-server", what="Redis", log_file=tmp_path / "apt.log", timeout=1
        )


def test_a_failed_install_is_retried_after_an_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    installed: list[Path] = []

    def fake_apt_get(arguments: list[str], log_file: Path, timeout: float) -> bool:
        calls.append(arguments[0])
        if arguments[0] == "install" and "update" in calls:
            installed.append(Path("/usr/bin/redis-server"))
            return True
        return arguments[0] == "update"

    monkeypatch.setattr(packages, "is_root", lambda: True)
    monkeypatch.setattr(packages, "_apt_get", fake_apt_get)
    found = ensure_package(
        lambda: installed[0] if installed else None,
        "redis-server",
        what="Redis",
        log_file=tmp_path / "apt.log",
        timeout=1,
    )
    assert found == Path("/usr/bin/redis-server")
    assert calls == ["install", "update", "install"]


def test_an_install_that_keeps_failing_names_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packages, "is_root", lambda: True)
    monkeypatch.setattr(packages, "_apt_get", lambda *_: False)
    with pytest.raises(DevstackError, match=r"could not install 'postgresql'.*apt\.log"):
        ensure_package(
            lambda: None, "postgresql", what="PostgreSQL", log_file=tmp_path / "apt.log", timeout=1
        )
