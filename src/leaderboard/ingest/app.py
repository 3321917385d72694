"""The ingest HTTP application: ``create_app(settings, metrics)`` builds it, nothing global.

A request is checked in the order of docs/services.md's status table: key, size, body, Kafka;
each score against its board's bounds, from the definitions the app follows.
"""

# No `from __future__ import annotations`: FastAPI must resolve the dependency annotations
# of routes defined inside create_app(), which string annotations would hide.
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from confluent_kafka import Consumer
from fastapi import Depends, FastAPI, Request, status
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

import leaderboard
from leaderboard.core.boards import board_bounds
from leaderboard.core.clients import AssignedConsumer
from leaderboard.core.definitions import BoardRegistry, DefinitionFeed
from leaderboard.core.errors import ConfigurationError, KafkaError
from leaderboard.core.events import SAFE_INTEGER, ScoreBounds, utc_now
from leaderboard.core.logging import get_logger
from leaderboard.core.metrics import Metrics
from leaderboard.core.probes import Health
from leaderboard.core.web import instrument_requests, probe_router, shutdown_share
from leaderboard.ingest.admin import admin_router
from leaderboard.ingest.auth import Keyring, Outcome, decide_role
from leaderboard.ingest.board_admin import running_definitions
from leaderboard.ingest.guard import key_guard
from leaderboard.ingest.limits import check_declared_length, read_limited
from leaderboard.ingest.metrics import IngestMetrics
from leaderboard.ingest.models import Accepted, Problem, ScoreEventIn, Unavailable, parse_submission
from leaderboard.ingest.producer import EventSink, ScoreProducer
from leaderboard.ingest.settings import IngestSettings

log = get_logger(__name__)

#: What every board's bounds lie within.
CONTRACT_BOUNDS = ScoreBounds(-SAFE_INTEGER, SAFE_INTEGER)

REALM = "leaderboard-ingest"

DESCRIPTION = """
Game servers submit score events here; they are written to the Kafka topic `game-score`,
from which the leaderboards and the archive are built.

**Authentication**: every request to `/api/scores` carries an API key, as
`Authorization: Bearer <key>` (or `X-API-Key: <key>`). No key or an unknown key: 401.
A disabled key, or an admin key: 403.

**Admin API** (`/api/admin/`): board definitions, resets and moderation, with admin
keys only (a score submission key gets 403). Without configured admin keys these routes
answer 503.

**Bounds**: each score must lie within its board's bounds: the board definition's
`score_min`/`score_max`, else the deployment's (`LEADERBOARD_SCORE_MIN`/`_MAX`); a change
of definition applies here within 2 seconds. No bound goes beyond ±(2**53 - 1), the
largest integer a JSON number holds exactly in a browser.

**Durability**: `202 Accepted` means every event of the request is stored on all in-sync
Kafka replicas (`acks=all`); an accepted score is never lost. If Kafka does not
acknowledge within the request deadline the answer is `503` and nothing is promised:
some events may be stored, others not.

**Retries and duplicates (the `event_id` contract)**: every event has an `event_id`
(a UUID). The consumers (the ranker and the archiver) apply an event id at most once, so
**resending events with the same `event_id`s never counts a score twice**. After a 503, a
timeout or a lost connection, resend the same events with the same ids. Set `event_id`
yourself (a UUID4 per event, kept with the event until it is accepted); if you omit it
the service generates one and returns it (in the 202 and in the 503 answer), and a retry
is only safe when it reuses those ids. The service keeps the id you send unchanged
(returned in canonical lowercase form).
"""

_BAD_REQUEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "model": Problem,
        "description": "No API key, or an unknown one (see `WWW-Authenticate`).",
    },
    status.HTTP_403_FORBIDDEN: {
        "model": Problem,
        "description": "The API key is disabled, or it is an admin key.",
    },
    status.HTTP_413_CONTENT_TOO_LARGE: {
        "model": Problem,
        "description": "The body is over the size limit, or the batch holds too many events.",
    },
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "description": "Invalid body: `detail` lists each problem with its location, e.g. "
        '`{"loc": ["body", 2, "score"], "type": "score_out_of_bounds", "msg": "score 0 is '
        'outside [1, 1000000], the bounds of leaderboard \'global\'", "ctx": '
        '{"leaderboard": "global", "minimum": 1, "maximum": 1000000, ...}}`.'
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": Unavailable,
        "description": "Kafka did not acknowledge every event in time: resend with the "
        "same event ids (see `Retry-After`). Also while the service has not yet read the "
        "board definitions (just started), which give each board's bounds.",
    },
}


def create_app(
    settings: IngestSettings,
    metrics: Metrics,
    *,
    sink: EventSink | None = None,
    consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
) -> FastAPI:
    """The ingest application; ``sink`` replaces the Kafka producer of scores and
    ``consumer_factory`` the definitions feed's consumer (tests)."""
    try:
        keyring = settings.keyring()
        admin_keyring = settings.admin_keyring()
    except ValueError as exc:
        raise ConfigurationError([str(exc)]) from None
    deployment_bounds = ScoreBounds(settings.score_min, settings.score_max)
    boards = BoardRegistry()
    health = Health()
    ingest_metrics = IngestMetrics(metrics.registry)

    def bounds_of(board: str) -> ScoreBounds:
        return board_bounds(boards.get(board), deployment_bounds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The boards' bounds; until it has read the topic to its end, scores answer 503
        # and readiness fails (the feed's `definitions` check).
        feed = DefinitionFeed(settings, boards, health, consumer_factory=consumer_factory)
        feed.start()
        app.state.board_feed = feed
        active = sink if sink is not None else ScoreProducer(settings, on_poll=health.heartbeat)
        active.start()
        app.state.sink = active
        admin = contextlib.AsyncExitStack()
        if admin_keyring is not None:
            app.state.definitions = await admin.enter_async_context(
                running_definitions(settings, admin_keyring)
            )
        else:
            log.info("admin API off: no admin key is configured")
        log.info(
            "accepting scores",
            topic=settings.topic_game_score,
            keys=keyring.names,
            disabled_keys=keyring.disabled_names,
            max_batch_events=settings.ingest_max_batch_events,
            max_body_bytes=settings.max_body_bytes,
        )
        try:
            yield
        finally:
            await admin.aclose()
            await asyncio.gather(  # together: each may take the whole share
                active.close(shutdown_share(settings)),
                asyncio.to_thread(feed.stop, shutdown_share(settings)),
            )
            log.info("Kafka producer flushed and closed")

    app = FastAPI(
        title="Leaderboard ingest API",
        version=leaderboard.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.sink = None
    app.state.board_feed = None
    app.state.definitions = None
    instrument_requests(app, ingest_metrics.http_requests, client_error_level="info")

    authenticate = _authenticator(keyring, admin_keyring)
    app.include_router(admin_router(admin_keyring, keyring, lambda: app.state.definitions))

    @app.post(
        "/api/scores",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        response_description="Every event is stored on all in-sync Kafka replicas.",
        responses=_BAD_REQUEST_RESPONSES,
        summary="Submit one score event or a batch",
        description="The body is one score event (a JSON object) or a batch (a JSON array "
        f"of at most {settings.ingest_max_batch_events} events), at most "
        f"{settings.max_body_bytes} bytes. Answers 202 once Kafka stored every "
        "event; the answer lists the event ids in the order sent.",
        tags=["scores"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/ScoreEventIn"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/ScoreEventIn"},
                                    "minItems": 1,
                                    "maxItems": settings.ingest_max_batch_events,
                                },
                            ]
                        }
                    }
                },
            }
        },
    )
    async def submit_scores(request: Request, caller: Annotated[str, Depends(authenticate)]) -> Any:
        # The body is read here, not declared as a parameter, so that authentication
        # comes first and the size limit holds while the bytes stream in.
        check_declared_length(request.headers.get("content-length"), settings.max_body_bytes)
        body = await read_limited(request.stream(), settings.max_body_bytes)
        feed: DefinitionFeed | None = request.app.state.board_feed
        # Until the definitions are read a board's bounds are unknown: only the contract's
        # are checked, and the events answer 503 below (a 422 could refuse a valid score).
        defined = feed is not None and feed.caught_up
        events = parse_submission(
            body,
            bounds=bounds_of if defined else lambda board: CONTRACT_BOUNDS,
            max_events=settings.ingest_max_batch_events,
            now=utc_now(),
        )
        event_ids = [event.event_id for event in events]
        active: EventSink | None = request.app.state.sink
        started = time.perf_counter()
        try:
            if active is None:
                raise KafkaError("the service is not started", topic=settings.topic_game_score)
            if not defined:
                topic = settings.topic_leaderboard_definitions
                raise KafkaError(
                    f"the board definitions are not read from Kafka yet (topic {topic!r})",
                    topic=topic,
                )
            await active.send(events)
        except KafkaError as exc:
            log.warning(
                "events not stored in Kafka; answering 503",
                caller=caller,
                events=len(events),
                error=str(exc),
                **exc.log_context(),
            )
            return JSONResponse(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                content=Unavailable(
                    detail=f"{exc}; resend the events with the same event_ids",
                    event_ids=event_ids,
                ).model_dump(mode="json"),
                headers={"Retry-After": "1"},
            )
        ingest_metrics.produce_seconds.observe(time.perf_counter() - started)
        ingest_metrics.events_accepted.inc(len(events))
        return Accepted(accepted=len(events), event_ids=event_ids)

    def producer_fault() -> str | None:
        """Liveness fails as soon as the Kafka producer broke for good."""
        active: EventSink | None = app.state.sink
        return active.broken if active is not None else None

    async def refresh_readiness() -> dict[str, Any]:
        """Ready when Kafka and the topic are reachable."""
        active: EventSink | None = app.state.sink
        health.set_check("kafka", *(await active.check() if active else (False, "not started")))
        return {}

    health.watch(producer_fault)
    app.include_router(probe_router(metrics, health, refresh=refresh_readiness))
    # FastAPI's documented way to extend the schema is to replace this method.
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _authenticator(
    keyring: Keyring, admin_keyring: Keyring | None
) -> Callable[..., Awaitable[str]]:
    """The dependency deciding on a score submission's key; returns the key's name."""
    return key_guard(
        lambda presented: decide_role(keyring, admin_keyring, presented),
        kind="API key",
        realm=REALM,
        refusals={
            Outcome.DISABLED: lambda name: f"the API key {name!r} is disabled; ask for a new key",
            Outcome.WRONG_ROLE: lambda name: (
                f"the key {name!r} is an admin key; it cannot submit scores"
            ),
        },
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema plus the request body model (its score shows the contract's
    limits: the bounds are each board's)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        event = ScoreEventIn.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {})["ScoreEventIn"] = event
        app.openapi_schema = schema
    return app.openapi_schema
