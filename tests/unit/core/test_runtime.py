"""The runtime turns configuration, errors and clean stops into the right exit status, for
workers and web services alike; every service's main() goes through it."""

import gc
import os
import signal
import socket
import threading
import urllib.error
import urllib.request

import pytest
from fastapi import FastAPI

from leaderboard.archiver.main import main as archiver_main
from leaderboard.closer.main import main as closer_main
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.errors import InfrastructureError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION, EXIT_FAILED, EXIT_OK
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health
from leaderboard.core.runtime import (
    GC_YOUNG_THRESHOLD,
    ServiceContext,
    run_worker,
    tune_garbage_collector,
)
from leaderboard.core.web import probe_router, run_web_service
from leaderboard.gateway.main import main as gateway_main
from leaderboard.ingest.main import main as ingest_main
from leaderboard.publisher.main import main as publisher_main
from leaderboard.ranker.main import main as ranker_main
from leaderboard.simulator.main import main as simulator_main
from tests.support.services import free_port, wait_for


@pytest.fixture(autouse=True)
def _restore_the_garbage_collector():
    """run_worker tunes the process's collector; give the test session its own back."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


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


def test_a_web_service_serves_its_app_and_stops_cleanly_on_sigterm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    monkeypatch.setenv("LEADERBOARD_HTTP_PORT", str(port))
    seen: dict[str, int | None] = {}

    def create_app(settings: LeaderboardSettings, metrics: Metrics) -> FastAPI:
        app = FastAPI()
        app.include_router(probe_router(metrics, Health()))
        return app

    def probe_then_stop() -> None:
        try:
            wait_for(lambda: answered(f"http://127.0.0.1:{port}/livez"), 20, "the server")
            seen["readyz"] = answered(f"http://127.0.0.1:{port}/readyz")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by the runtime's Shutdown

    threading.Thread(target=probe_then_stop, daemon=True).start()
    assert run_web_service(LeaderboardSettings, create_app) == EXIT_OK
    assert seen == {"readyz": 200}


def test_a_web_service_whose_port_is_taken_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("LEADERBOARD_HTTP_PORT", str(taken.getsockname()[1]))
        assert run_web_service(LeaderboardSettings, lambda settings, metrics: FastAPI()) == (
            EXIT_FAILED
        )


def test_a_worker_whose_port_is_taken_exits_1_without_working(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    worked: list[bool] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("LEADERBOARD_HTTP_PORT", str(taken.getsockname()[1]))
        monkeypatch.setenv("LEADERBOARD_LOG_FORMAT", "json")
        assert run_worker(LeaderboardSettings, lambda context: worked.append(True), []) == (
            EXIT_FAILED
        )
    assert worked == []
    # One structured line naming the port, not a traceback.
    logged = capsys.readouterr()
    assert "Traceback" not in logged.err + logged.out
    assert '"the HTTP server did not start"' in logged.err + logged.out


def answered(url: str) -> int | None:
    try:
        return status_of(url)
    except urllib.error.URLError:
        return None


SERVICE_MAINS = {
    "simulator": simulator_main,
    "ingest": ingest_main,
    "ranker": ranker_main,
    "archiver": archiver_main,
    "publisher": publisher_main,
    "gateway": gateway_main,
    "closer": closer_main,
}


#: Each service's own port, defined once in its settings class.
DEFAULT_PORTS = {
    "gateway": 8000,
    "ingest": 8001,
    "ranker": 9101,
    "archiver": 9102,
    "publisher": 9103,
    "simulator": 9104,
    "closer": 9105,
}


@pytest.mark.parametrize("service", SERVICE_MAINS)
def test_every_service_answers_help_without_starting(
    service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert SERVICE_MAINS[service](["--help"]) == EXIT_OK
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: python -m leaderboard.{service} [--help]")
    assert f"LEADERBOARD_HTTP_PORT  (default {DEFAULT_PORTS[service]})" in usage


@pytest.mark.parametrize("service", SERVICE_MAINS)
def test_every_service_refuses_a_bad_http_port_with_status_2(
    service: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEADERBOARD_HTTP_PORT", "abc")
    monkeypatch.setenv("LEADERBOARD_INGEST_API_KEYS", "test:0123456789abcdef0123")
    assert SERVICE_MAINS[service]([]) == EXIT_BAD_CONFIGURATION
    problems = capsys.readouterr().err.splitlines()[1:]
    assert [line.strip() for line in problems] == ["LEADERBOARD_HTTP_PORT='abc' is not an integer"]
