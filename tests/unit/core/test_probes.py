"""Worker probes report liveness from heartbeats and readiness from dependency checks."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health, serve_worker_http


@pytest.fixture
def served() -> Iterator[tuple[Health, str]]:
    health = Health(stall_after=60)
    server = serve_worker_http(Metrics("ranker"), health, "127.0.0.1", 0)
    yield health, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_metrics_are_served(served: tuple[Health, str]) -> None:
    _, base = served
    status, body = get(f"{base}/metrics")
    assert status == 200
    assert b"leaderboard_build_info" in body


def test_ready_until_a_dependency_fails(served: tuple[Health, str]) -> None:
    health, base = served
    health.set_check("postgres", True)
    assert get(f"{base}/readyz")[0] == 200
    health.set_check("postgres", False, "connection refused")
    status, body = get(f"{base}/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["postgres"] == {"ok": False, "detail": "connection refused"}
    assert get(f"{base}/livez")[0] == 200  # not ready is not dead


def test_a_starting_worker_is_not_ready_until_its_loop_started() -> None:
    # The probe serves before the worker reached its dependencies (the archiver before it
    # migrated): until started() it must not report ready.
    health = Health(stall_after=60.0, starting=True)
    ready, body = health.readiness()
    assert not ready
    assert body["checks"]["startup"] == {"ok": False, "detail": "starting"}
    health.started()
    assert health.readiness()[0]
    health.set_check("postgres", False, "connection refused")
    assert not health.readiness()[0]


def test_liveness_fails_when_the_loop_stalls() -> None:
    health = Health(stall_after=60.0)
    health.heartbeat()
    assert health.liveness()[0]
    stalled = Health(stall_after=-1.0)  # any idle time exceeds a negative bound
    assert not stalled.liveness()[0]
    assert not stalled.readiness()[0]


def test_unknown_paths_say_what_exists(served: tuple[Health, str]) -> None:
    _, base = served
    status, body = get(f"{base}/nope")
    assert status == 404
    assert b"/readyz" in body
