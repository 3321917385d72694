"""Probes report liveness from heartbeats and faults, readiness from dependency checks, the
same way from a worker's HTTP server and from a web service's router."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health, serve_worker_http
from leaderboard.core.web import probe_router


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


def test_a_fault_fails_liveness_and_names_it() -> None:
    health = Health(stall_after=60.0)
    broken: list[str] = []
    health.watch(lambda: broken[0] if broken else None)
    assert health.liveness()[0]
    broken.append("the Kafka consumer thread stopped")
    live, body = health.liveness()
    assert not live
    assert body["error"] == "the Kafka consumer thread stopped"
    assert not health.readiness()[0]  # a dead process is not ready either


def test_the_router_answers_as_the_worker_server_does() -> None:
    health = Health(stall_after=60.0)
    refreshed = []

    async def refresh() -> dict[str, object]:
        refreshed.append(True)
        health.set_check("redis", False, "cannot reach Redis")
        return {"clients": 3}

    app = FastAPI()
    app.include_router(probe_router(Metrics("gateway"), health, refresh=refresh))
    client = TestClient(app)
    assert client.get("/livez").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "failing",
        "checks": {"redis": {"ok": False, "detail": "cannot reach Redis"}},
        "clients": 3,
    }
    assert refreshed == [True]
    assert "leaderboard_build_info" in client.get("/metrics").text
    assert set(client.get("/openapi.json").json()["paths"]) == {"/livez", "/readyz"}


def test_both_servers_give_the_same_answer(served: tuple[Health, str]) -> None:
    health, base = served
    health.set_check("postgres", False, "connection refused")
    app = FastAPI()
    app.include_router(probe_router(Metrics("archiver"), health))
    client = TestClient(app)
    for path in ("/livez", "/readyz"):
        status, body = get(f"{base}{path}")
        answer, worker = client.get(path).json(), json.loads(body)
        answer.pop("seconds_since_heartbeat", None)  # read a moment apart
        worker.pop("seconds_since_heartbeat", None)
        assert (client.get(path).status_code, answer) == (status, worker)
