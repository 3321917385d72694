"""run_worker turns configuration, errors and clean stops into the right exit status."""

import gc
import signal
import socket
import urllib.error
import urllib.request

import pytest

from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.errors import InfrastructureError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION, EXIT_FAILED, EXIT_OK
from leaderboard.core.runtime import (
    GC_YOUNG_THRESHOLD,
    ServiceContext,
    run_worker,
    tune_garbage_collector,
)


@pytest.fixture(autouse=True)
def _restore_the_garbage_collector():
    """run_worker tunes the process's collector; give the test session its own back."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _restore_signal_handlers(monkeypatch: pytest.MonkeyPatch):
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setenv("LEADERBOARD_HTTP_PORT", str(free_port()))
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_bad_configuration_exits_2_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS", "never")
    assert run_worker(LeaderboardSettings, lambda context: None) == EXIT_BAD_CONFIGURATION
    assert "LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS='never' is not a number" in capsys.readouterr().err


def test_work_runs_with_probes_served_and_exits_0() -> None:
    seen = {}

    def work(context: ServiceContext[LeaderboardSettings]) -> None:
        port = context.settings.http_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=5) as response:
            seen["livez"] = response.status
        context.shutdown.request("test")

    assert run_worker(LeaderboardSettings, work) == EXIT_OK
    assert seen == {"livez": 200}


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_a_worker_is_not_ready_until_its_main_loop_started() -> None:
    seen = []

    def work(context: ServiceContext[LeaderboardSettings]) -> None:
        readyz = f"http://127.0.0.1:{context.settings.http_port}/readyz"
        seen.append(status_of(readyz))  # still setting up (migrating, connecting)
        context.health.started()
        seen.append(status_of(readyz))
        context.shutdown.request("test")

    assert run_worker(LeaderboardSettings, work) == EXIT_OK
    assert seen == [503, 200]


def test_a_project_error_exits_1() -> None:
    def work(context: ServiceContext[LeaderboardSettings]) -> None:
        raise InfrastructureError("redis went away")

    assert run_worker(LeaderboardSettings, work) == EXIT_FAILED


def test_the_garbage_collector_is_tuned_for_batch_loops() -> None:
    before = gc.get_threshold()
    tune_garbage_collector()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
    assert gc.get_freeze_count() > 0  # start-up's objects are out of the collector's way
