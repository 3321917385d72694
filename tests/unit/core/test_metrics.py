"""Metrics are prefixed, per-registry, and served over HTTP."""

from prometheus_client import CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from leaderboard.core.metrics import Metrics
from leaderboard.core.web import RequestAccounting


def exported_names(metrics: Metrics) -> set[str]:
    return {metric.name for metric in metrics.registry.collect()}


def test_project_metrics_are_prefixed() -> None:
    names = exported_names(Metrics("ranker"))
    ours = names - {name for name in names if name.startswith(("process_", "python_"))}
    assert ours
    assert all(name.startswith("leaderboard_") for name in ours), ours


def test_build_info_names_the_service_and_version() -> None:
    text = generate_latest(Metrics("archiver").registry).decode()
    assert "leaderboard_build_info{" in text
    assert 'service="archiver"' in text


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics("a"), Metrics("b")
    first.consumed_batches.inc()
    assert first.registry.get_sample_value("leaderboard_consumer_batches_total") == 1
    assert second.registry.get_sample_value("leaderboard_consumer_batches_total") == 0


def accounted_app(level: str = "debug") -> tuple[TestClient, Counter]:
    """A tiny app behind RequestAccounting: /api/ok, /api/missing (404), /api/broken (500),
    /other (not accounted)."""

    async def endpoint(request):  # type: ignore[no-untyped-def]
        codes = {"/api/ok": 200, "/api/missing": 404, "/api/broken": 500, "/other": 200}
        return PlainTextResponse("x", status_code=codes[request.url.path])

    routes = [
        Route(path, endpoint) for path in ("/api/ok", "/api/missing", "/api/broken", "/other")
    ]
    app = Starlette(routes=routes)
    counter = Counter("t_requests_total", "requests", ["status"], registry=CollectorRegistry())
    app.add_middleware(RequestAccounting, requests=counter, client_error_level=level)
    return TestClient(app), counter


def test_api_requests_are_counted_by_status_and_others_are_not() -> None:
    client, counter = accounted_app()
    for path in ("/api/ok", "/api/ok", "/api/missing", "/api/broken", "/other"):
        client.get(path)
    counted = {
        sample.labels["status"]: sample.value
        for sample in counter.collect()[0].samples
        if sample.name.endswith("_total")
    }
    assert counted == {"200": 2.0, "404": 1.0, "500": 1.0}


def test_request_logs_go_by_status_and_the_client_error_level() -> None:
    client, _ = accounted_app(level="info")
    with capture_logs() as logs:
        for path in ("/api/ok", "/api/missing", "/api/broken"):
            client.get(path)
    assert [(line["status"], line["log_level"]) for line in logs] == [
        (200, "debug"),
        (404, "info"),
        (500, "warning"),
    ]
    assert all(line["path"].startswith("/api/") and "headers" not in line for line in logs)
