"""Request timing and logs of the web services (``instrument_requests``): labelled by route
template, method and exact status, with a bounded set of series whatever clients send."""

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from starlette.responses import PlainTextResponse
from structlog.testing import capture_logs

from leaderboard.core.metrics import REQUEST_SECONDS_BUCKETS, request_duration
from leaderboard.core.web import instrument_requests

SERIES = "leaderboard_test_http_request_duration_seconds"


def instrumented_app(level: str = "debug") -> tuple[TestClient, Histogram]:
    """A tiny app: /api/boards/{board}/top (404 for board "missing"), /api/broken (raises),
    /other, and the probes /livez and /metrics."""
    app = FastAPI()

    @app.get("/api/boards/{board}/top")
    async def top(board: str) -> dict[str, str]:
        if board == "missing":
            raise HTTPException(404, "no such board")
        return {"board": board}

    @app.get("/api/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    @app.get("/other")
    async def other() -> PlainTextResponse:
        return PlainTextResponse("x")

    @app.get("/livez")
    async def livez() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse("")

    requests = request_duration("test", CollectorRegistry())
    instrument_requests(app, requests, client_error_level=level)
    return TestClient(app, raise_server_exceptions=False), requests


def counts(requests: Histogram) -> dict[tuple[str, str, str], float]:
    """Requests observed, by (route, method, status)."""
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in requests.collect()
        for s in family.samples
        if s.name == f"{SERIES}_count"
    }


def test_requests_are_timed_by_route_template_method_and_exact_status() -> None:
    client, requests = instrumented_app()
    for path in ("/api/boards/a/top", "/api/boards/b/top", "/api/boards/missing/top"):
        client.get(path)
    client.get("/api/broken")
    client.get("/other")
    client.post("/api/boards/a/top")
    assert counts(requests) == {
        ("/api/boards/{board}/top", "GET", "200"): 2.0,
        ("/api/boards/{board}/top", "GET", "404"): 1.0,
        ("/api/boards/{board}/top", "POST", "405"): 1.0,
        ("/api/broken", "GET", "500"): 1.0,
        ("/other", "GET", "200"): 1.0,
    }


def test_the_histogram_has_the_request_buckets_and_records_durations() -> None:
    client, requests = instrumented_app()
    client.get("/api/boards/a/top")
    samples = [s for family in requests.collect() for s in family.samples]
    bounds = [float(s.labels["le"]) for s in samples if s.name == f"{SERIES}_bucket"]
    assert bounds == [*map(float, REQUEST_SECONDS_BUCKETS), float("inf")]
    total = next(s.value for s in samples if s.name == f"{SERIES}_sum")
    assert 0 < total < 5


def test_unknown_paths_share_one_series_and_no_raw_path_becomes_a_label() -> None:
    client, requests = instrumented_app()
    for path in ("/nope", "/api/unknown/1", "/api/unknown/2"):
        assert client.get(path).status_code == 404
    # A trailing slash is redirected by the router, before any route: no template either.
    for board in ("x", "y"):
        answer = client.get(f"/api/boards/{board}/top/", follow_redirects=False)
        assert answer.status_code == 307
    assert counts(requests) == {("none", "GET", "404"): 3.0, ("none", "GET", "307"): 2.0}


def test_methods_outside_the_known_set_are_labelled_other() -> None:
    client, requests = instrumented_app()
    client.request("BREW", "/api/boards/a/top")
    client.request("PROPFIND", "/api/boards/a/top")
    assert counts(requests) == {("/api/boards/{board}/top", "other", "405"): 2.0}


def test_probes_and_scrapes_are_not_timed_or_logged() -> None:
    client, requests = instrumented_app()
    with capture_logs() as logs:
        client.get("/livez")
        client.get("/metrics")
    assert counts(requests) == {}
    assert logs == []


def test_nothing_is_registered_on_the_global_registry() -> None:
    before = set(REGISTRY._names_to_collectors)
    client, _ = instrumented_app()
    client.get("/api/boards/a/top")
    assert set(REGISTRY._names_to_collectors) == before


def test_request_logs_go_by_status_and_the_client_error_level() -> None:
    client, _ = instrumented_app(level="info")
    with capture_logs() as logs:
        for path in ("/api/boards/a/top", "/api/boards/missing/top", "/api/broken", "/other"):
            client.get(path)
    assert [(line["status"], line["log_level"]) for line in logs] == [
        (200, "debug"),
        (404, "info"),
        (500, "warning"),
    ]
    assert all(line["path"].startswith("/api/") and "headers" not in line for line in logs)
    assert logs[0]["method"] == "GET"
    assert logs[0]["seconds"] >= 0
