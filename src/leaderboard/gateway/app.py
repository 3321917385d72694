"""The gateway application: ``create_app(settings, metrics)`` builds it, nothing global.

Routes and the lifespan's start-up and shutdown: docs/api.md and docs/services.md.
"""

# No `from __future__ import annotations`: FastAPI must resolve the route annotations.
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from importlib import resources
from typing import Any

from confluent_kafka import Consumer
from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

import leaderboard
from leaderboard.core.clients import AssignedConsumer
from leaderboard.core.definitions import BoardRegistry, DefinitionFeed
from leaderboard.core.events import utc_now
from leaderboard.core.keys import RedisKeys
from leaderboard.core.live_periods import LivePeriods
from leaderboard.core.logging import get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health
from leaderboard.core.web import instrument_requests, probe_router, shutdown_share
from leaderboard.gateway.api import api_router
from leaderboard.gateway.changes import ChangeFeed
from leaderboard.gateway.closed_periods import ClosedPeriods, create_closed_periods_engine
from leaderboard.gateway.feed import SnapshotFeed
from leaderboard.gateway.hub import Handoff, Hub
from leaderboard.gateway.live import LiveService
from leaderboard.gateway.messages import Update
from leaderboard.gateway.metrics import GatewayMetrics
from leaderboard.gateway.models import TIE_RULE
from leaderboard.gateway.rankings import Neighbourhood, Rankings, parse_cached
from leaderboard.gateway.settings import GatewaySettings
from leaderboard.gateway.watch import PlayerWatch

log = get_logger(__name__)

#: Bound on one Redis round trip of the readiness probe.
REDIS_CHECK_SECONDS = 1.0
#: People wait on REST answers: with Redis away, answer 503 within about a second or two
#: (one quick retry for a blip) instead of redis-py's default retries of several seconds.
REDIS_FAIL_FAST: dict[str, Any] = {
    "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), retries=1),
    "socket_timeout": 2.0,
    "socket_connect_timeout": 2.0,
}
#: The feed thread heartbeats at least every few seconds; far longer means it is wedged.
FEED_STALL_SECONDS = 60.0

DESCRIPTION = f"""
Live leaderboards: the page at `/`, a WebSocket per leaderboard at
`/ws/leaderboards/{{leaderboard_id}}` (its messages are described in `docs/api.md`), and
this REST API, read live from the Redis sorted sets.

**Ties**: {TIE_RULE}
"""

PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(
    settings: GatewaySettings,
    metrics: Metrics,
    *,
    consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The gateway application; ``consumer_factory`` replaces the Kafka consumers of the
    snapshot, change notice and definitions feeds, ``clock`` the time that decides each
    board's current period (tests)."""
    gateway_metrics = GatewayMetrics(metrics.registry)
    health = Health(stall_after=FEED_STALL_SECONDS)
    hub = Hub(gateway_metrics)
    page = (resources.files("leaderboard.gateway") / "static" / "index.html").read_text()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis(**settings.redis_client_kwargs() | REDIS_FAIL_FAST)
        rankings = Rankings(redis, RedisKeys(settings.redis_key_prefix))
        app.state.rankings = rankings
        # Closed periods only: no connection is made until one is asked for, so the live
        # reads and readiness never wait for PostgreSQL.
        engine = create_closed_periods_engine(settings)
        app.state.closed_periods = ClosedPeriods(engine)
        # How each board ranks and shows its scores; readiness waits for its catch-up.
        app.state.boards = BoardRegistry()
        definitions = DefinitionFeed(
            settings, app.state.boards, health, consumer_factory=consumer_factory
        )
        definitions.start()
        boards: BoardRegistry = app.state.boards
        periods = LivePeriods(boards, clock)  # the event loop's own
        app.state.periods = periods

        async def read_players(board: str, radii: dict[str, int]) -> dict[str, Neighbourhood]:
            sort, period = boards.view(board).sort, periods.of(board).id
            return await rankings.neighbourhoods(board, radii, sort, period)

        watch = PlayerWatch(read_players, on_watchers=gateway_metrics.player_watchers.set)
        # No change notice marks a rollover: the new period's snapshot does.
        hub.on_new_period = lambda board: watch.changed([board])
        live = LiveService(settings, hub, rankings, watch, gateway_metrics)
        app.state.live = live
        live.start()
        loop = asyncio.get_running_loop()

        def schedule(callback: Callable[[], None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                loop.call_soon_threadsafe(callback)

        changes = ChangeFeed(
            settings,
            lambda changed: schedule(partial(watch.changed, changed)),
            gateway_metrics,
            consumer_factory=consumer_factory,
        )
        app.state.changes = changes
        changes.start()

        # The consumer thread hands updates over; the hub is only ever touched on the loop.
        handoff = Handoff(schedule, hub, gateway_metrics)
        feed = SnapshotFeed(
            settings, handoff.put, gateway_metrics, health, consumer_factory=consumer_factory
        )
        app.state.feed = feed
        feed.start()
        await _load_cache(rankings, hub)
        log.info(
            "serving live leaderboards",
            topic=settings.topic_leaderboard,
            leaderboards=len(hub.leaderboards()),
            max_connections=settings.gateway_max_connections,
        )
        try:
            yield
        finally:
            await live.stop()
            await watch.stop()
            await asyncio.gather(  # together: each may take the whole share
                asyncio.to_thread(feed.stop, shutdown_share(settings)),
                asyncio.to_thread(changes.stop, shutdown_share(settings)),
                asyncio.to_thread(definitions.stop, shutdown_share(settings)),
            )
            await redis.aclose()
            await asyncio.to_thread(engine.dispose)
            log.info("Kafka consumers, Redis and PostgreSQL closed")

    app = FastAPI(
        title="Leaderboard gateway",
        version=leaderboard.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    instrument_requests(app, gateway_metrics.http_requests)
    app.include_router(api_router())

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    app.mount(
        "/static",
        StaticFiles(packages=[("leaderboard.gateway", "static")]),
        name="static",
    )

    @app.websocket("/ws/leaderboards/{leaderboard_id}")
    async def live(websocket: WebSocket, leaderboard_id: str) -> None:
        service: LiveService = websocket.app.state.live
        await service.serve(websocket, leaderboard_id)

    def feed_fault() -> str | None:
        """Liveness fails as soon as the snapshot or the change notice thread stopped."""
        feed: SnapshotFeed | None = getattr(app.state, "feed", None)
        if feed is not None and not feed.alive:
            return feed.status()[1]
        changes: ChangeFeed | None = getattr(app.state, "changes", None)
        return changes.fault() if changes is not None else None

    async def refresh_readiness() -> dict[str, Any]:
        """Ready when the snapshot topic is readable and Redis answers; counts the clients."""
        feed: SnapshotFeed | None = getattr(app.state, "feed", None)
        health.set_check("kafka", *(feed.status() if feed else (False, "not started")))
        health.set_check("redis", *await _check_redis(getattr(app.state, "rankings", None)))
        live: LiveService | None = getattr(app.state, "live", None)
        return {"clients": live.connected if live else 0}

    health.watch(feed_fault)
    app.include_router(probe_router(metrics, health, refresh=refresh_readiness))
    return app


async def _load_cache(rankings: Rankings, hub: Hub) -> None:
    """Offer the cached snapshot of every known leaderboard (best effort: Redis may be down)."""
    try:
        raws = await rankings.cached_snapshots()
    except (RedisError, OSError) as exc:
        log.warning(
            "cannot read the snapshot cache at start; snapshots come from Kafka only",
            error=str(exc),
        )
        return
    received_at = time.monotonic()
    for raw in raws:
        try:
            hub.offer(Update.of(parse_cached(raw), received_at))
        except ValidationError as exc:
            log.warning("skipping an invalid cached snapshot", error=str(exc).splitlines()[0])


async def _check_redis(rankings: Rankings | None) -> tuple[bool, str]:
    if rankings is None:
        return False, "not started"
    try:
        async with asyncio.timeout(REDIS_CHECK_SECONDS):
            await rankings.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        return False, f"cannot reach Redis: {exc or 'timed out'}"
    return True, "PING answered"
