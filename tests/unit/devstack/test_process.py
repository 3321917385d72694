"""Detached processes: start, recognise as ours, stop; polling; ports; one-off commands."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaderboard.devstack.errors import DevstackError
from leaderboard.devstack.process import (
    CommandMatcher,
    ManagedProcess,
    port_accepts,
    port_is_free,
    read_cmdline,
    run_logged,
    wait_until,
)

SLEEP = shutil.which("sleep") or "/bin/sleep"


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A managed `sleep` whose unique argument plays the part of a data directory."""
    marker = f"{10_000 + os.getpid() % 1000}.{len(str(tmp_path))}"
    process = ManagedProcess(
        "sleeper",
        pid_file=tmp_path / "run" / "sleeper.pid",
        log_file=tmp_path / "logs" / "sleeper.log",
        matcher=CommandMatcher("sleep", (marker,)),
    )
    process.argv = [SLEEP, marker]  # type: ignore[attr-defined]
    yield process
    if process.pid() is not None:
        process.stop(signal.SIGKILL, timeout=10)


def test_matcher_needs_the_executable_and_every_argument() -> None:
    matcher = CommandMatcher("postgres", ("-D", "/data"))
    assert matcher.matches(["/usr/lib/postgresql/15/bin/postgres", "-D", "/data", "-p", "1"])
    assert not matcher.matches(["/usr/bin/setpriv", "postgres", "-D", "/data"])
    assert not matcher.matches(["/usr/bin/postgres", "-D", "/other"])
    assert not matcher.matches([])


def test_a_started_process_is_ours_until_stopped(sleeper: ManagedProcess, tmp_path: Path) -> None:
    pid = sleeper.start(sleeper.argv, cwd=tmp_path)  # type: ignore[attr-defined]
    assert wait_until(lambda: sleeper.pid() == pid, timeout=10)
    assert sleeper.pid_file.read_text().strip() == str(pid)
    assert os.getsid(pid) == pid  # detached into its own session
    assert "starting sleeper" in sleeper.log_file.read_text()

    assert sleeper.stop(signal.SIGTERM, timeout=10)
    assert read_cmdline(pid) is None
    assert sleeper.pid() is None
    assert not sleeper.pid_file.exists()
    assert not sleeper.stop(signal.SIGTERM, timeout=10)  # nothing left to stop


def test_a_lost_pid_file_is_recovered_from_proc(sleeper: ManagedProcess, tmp_path: Path) -> None:
    pid = sleeper.start(sleeper.argv, cwd=tmp_path)  # type: ignore[attr-defined]
    assert wait_until(lambda: sleeper.pid() == pid, timeout=10)
    sleeper.pid_file.unlink()
    assert sleeper.pid() == pid
    assert sleeper.pid_file.is_file()


def test_a_stale_pid_file_naming_another_process_is_not_trusted(
    sleeper: ManagedProcess,
) -> None:
    sleeper.pid_file.parent.mkdir(parents=True)
    sleeper.pid_file.write_text(f"{os.getpid()}\n")  # alive, but pytest, not our server
    assert not sleeper.is_ours(os.getpid())
    assert sleeper.pid() is None
    assert not sleeper.pid_file.exists()


def test_an_exited_start_is_reported_with_its_log(tmp_path: Path) -> None:
    failing = ManagedProcess(
        "failing",
        pid_file=tmp_path / "failing.pid",
        log_file=tmp_path / "failing.log",
        matcher=CommandMatcher(Path(sys.executable).name, ("-c",)),
    )
    pid = failing.start([sys.executable, "-c", "raise SystemExit(3)"], cwd=tmp_path)

    def exit_error() -> str | None:
        try:
            failing.check_alive(pid)
        except DevstackError as exc:
            return str(exc)
        return None

    message = wait_until(exit_error, timeout=10)
    assert message is not None
    assert "failing exited with code 3 while starting" in message
    assert str(tmp_path / "failing.log") in message


def test_a_process_ignoring_its_signal_is_killed(tmp_path: Path) -> None:
    stubborn = ManagedProcess(
        "stubborn",
        pid_file=tmp_path / "stubborn.pid",
        log_file=tmp_path / "stubborn.log",
        matcher=CommandMatcher(Path(sys.executable).name, ("stubborn-marker",)),
    )
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    pid = stubborn.start([sys.executable, "-c", code, "stubborn-marker"], cwd=tmp_path)
    assert wait_until(lambda: "ready" in stubborn.log_file.read_text(), timeout=10)
    assert stubborn.stop(signal.SIGTERM, timeout=0.5)
    assert read_cmdline(pid) is None


def test_wait_until_returns_the_value_or_none_at_the_deadline() -> None:
    calls: list[int] = []
    assert wait_until(lambda: calls.append(1) or len(calls) >= 3, timeout=5, interval=0.01)
    assert wait_until(lambda: None, timeout=0.05, interval=0.01) is None


def test_wait_until_stops_when_abort_raises() -> None:
    def abort() -> None:
        raise DevstackError("gone")

    with pytest.raises(DevstackError, match="gone"):
        wait_until(lambda: False, timeout=30, abort=abort)


def test_a_listening_port_is_neither_free_nor_closed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        assert port_accepts("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)
    assert not port_accepts("127.0.0.1", port)


def test_run_logged_appends_output_and_reports_failure(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "tool.log"
    assert run_logged(["sh", "-c", "echo hello"], log_file=log_file, timeout=10, what="hi") == 0
    assert "hello" in log_file.read_text()
    with pytest.raises(DevstackError, match=r"oops failed with exit code 4.*tool\.log"):
        run_logged(["sh", "-c", "exit 4"], log_file=log_file, timeout=10, what="oops")
    assert run_logged(["sh", "-c", "exit 4"], log_file=log_file, timeout=10, what="x", check=False)


def test_run_logged_bounds_a_hanging_command(tmp_path: Path) -> None:
    with pytest.raises(DevstackError, match="did not finish within"):
        run_logged([SLEEP, "30"], log_file=tmp_path / "t.log", timeout=0.2, what="sleeping")
    assert subprocess.run(["true"], check=False).returncode == 0
