"""What only the web services (gateway, ingest) use: ``run_web_service`` (uvicorn under the
shared start-up and shutdown), the probe router, ``/metrics`` and request timing and logs.
Kept apart so the workers never import FastAPI, Starlette or uvicorn."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import uvicorn
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import Histogram, make_asgi_app
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from leaderboard.core.config import LeaderboardSettings, SettingsT
from leaderboard.core.errors import ConfigurationError
from leaderboard.core.lifecycle import EXIT_BAD_CONFIGURATION, EXIT_FAILED, EXIT_OK, Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import JSON, Health, ReadinessRefresh, probe_answer
from leaderboard.core.runtime import finish, run_guarded, start_service

log = get_logger(__name__)


def shutdown_share(settings: LeaderboardSettings) -> float:
    """Seconds each of a web service's two shutdown steps may take: uvicorn's (requests
    and WebSocket sessions end) and then the app's (its clients close), so that both
    together stay within ``LEADERBOARD_SHUTDOWN_TIMEOUT_SECONDS``."""
    return settings.shutdown_timeout_seconds / 2


def run_web_service(
    settings_class: type[SettingsT],
    create_app: Callable[[SettingsT, Metrics], ASGIApp],
    argv: Sequence[str] | None = None,
    *,
    server_options: Callable[[SettingsT], Mapping[str, Any]] | None = None,
) -> int:
    """Run a web service from start-up to exit: ``create_app(settings, metrics)`` served by
    uvicorn on its HTTP address (``server_options`` adds uvicorn options) until a stop is
    requested; returns the exit status."""
    started = start_service(settings_class, argv)
    if isinstance(started, int):
        return started
    settings, metrics, shutdown = started
    try:
        app = create_app(settings, metrics)
    except ConfigurationError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_BAD_CONFIGURATION
    options = server_options(settings) if server_options is not None else {}
    server = _StoppableServer(web_server_config(settings, app, **options), shutdown)
    log.info("starting", url=f"http://{settings.http_host}:{settings.http_port}/")
    status = run_guarded(server.run)
    if status == EXIT_OK and not server.started:
        log.error("the HTTP server did not start", port=settings.http_port)
        status = EXIT_FAILED
    return finish(metrics, shutdown, status)


def web_server_config(
    settings: LeaderboardSettings, app: ASGIApp, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for a web service; ``options`` add to or replace the base."""
    base: dict[str, Any] = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "access_log": False,  # one line per probe would drown the useful ones
        "timeout_graceful_shutdown": math.floor(shutdown_share(settings)) or 1,
        "lifespan": "on",
    }
    return uvicorn.Config(app, **(base | options))


class _StoppableServer(uvicorn.Server):
    """uvicorn stopped by the process's ``Shutdown`` (the same signals, bound and exit
    statuses as a worker) instead of by signal handlers of its own."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self._shutdown = shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        if self._shutdown.requested:
            self.should_exit = True
        return await super().on_tick(counter)


def probe_router(
    metrics: Metrics, health: Health, *, refresh: ReadinessRefresh | None = None
) -> APIRouter:
    """``/livez``, ``/readyz`` and ``/metrics`` for a web service's app."""
    router = APIRouter(tags=["probes"])

    @router.get("/livez", summary="Liveness: the process makes progress")
    async def livez() -> Response:
        status, body = probe_answer(*health.liveness())
        return Response(body, status_code=status, media_type=JSON)

    @router.get("/readyz", summary="Readiness: the servers it depends on are reachable")
    async def readyz() -> Response:
        extra = await refresh() if refresh is not None else {}
        ready, body = health.readiness()
        status, payload = probe_answer(ready, body | extra)
        return Response(payload, status_code=status, media_type=JSON)

    router.routes.append(Route("/metrics", MetricsEndpoint(metrics), include_in_schema=False))
    return router


class MetricsEndpoint:
    """``/metrics`` for a web service, as an ASGI endpoint its router serves at one exact
    path (mounting the app instead would redirect ``/metrics`` to ``/metrics/``)."""

    def __init__(self, metrics: Metrics) -> None:
        self._app = make_asgi_app(registry=metrics.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


#: Not timed: probes and scrapes would outnumber and skew the requests people make.
UNTIMED_ROUTES = ("^/livez$", "^/readyz$", "^/metrics$")
#: The route label of a request no route matched, whatever its path (bounded series).
UNMATCHED_ROUTE = "none"
#: The methods a route can answer; any other a client sends is labelled ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def instrument_requests(
    app: Starlette,
    requests: Histogram,
    *,
    log_prefix: str = "/api/",
    client_error_level: str = "debug",
) -> None:
    """Time every HTTP request of ``app`` (probes and ``/metrics`` excepted) in
    ``requests`` (``leaderboard.core.metrics.request_duration``) by route template, method
    and status, with prometheus-fastapi-instrumentator's middleware, and log each one under
    ``log_prefix``: server errors as warnings, client errors at ``client_error_level``, the
    rest at debug. A log line has the method, path, status, duration, client address and
    the authenticated caller's name (``scope["state"]["caller"]``), never headers, so
    never a credential."""

    def observe(info: Info) -> None:
        # Only a request that reached an endpoint has its template: the library names a
        # trailing-slash redirect by its raw path, one series per path a client invents.
        matched = "endpoint" in info.request.scope
        route = info.modified_handler if matched else UNMATCHED_ROUTE
        method = info.method if info.method in KNOWN_METHODS else "other"
        requests.labels(route=route, method=method, status=info.modified_status).observe(
            info.modified_duration
        )

    def log_request(info: Info) -> None:
        scope = info.request.scope
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if not path.startswith(log_prefix):
            return
        code = int(info.modified_status)
        client = scope.get("client")
        fields = {
            "method": info.method,
            "path": path,
            "status": code,
            "seconds": round(info.modified_duration, 4),
            "caller": scope.get("state", {}).get("caller"),
            "client": client[0] if client else None,
        }
        if code >= 500:
            level = "warning"
        elif code >= 400:
            level = client_error_level
        else:
            level = "debug"
        getattr(log, level)("request", **fields)

    # With callbacks of its own, the library creates none of its default metrics (which
    # would go to the global registry): the service's registry holds the only ones.
    Instrumentator(
        should_group_status_codes=False,  # exact codes: alerts tell 503 from 500
        should_group_untemplated=True,
        excluded_handlers=list(UNTIMED_ROUTES),
    ).add(observe, log_request).instrument(app)
