"""The admin API's board definition routes: PostgreSQL first, then the definitions topic.

Design and status codes: docs/api.md, "Admin API"; docs/services.md, "Ingest API".
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations.
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status

from leaderboard.core.boards import BoardDefinition, BoardSpec
from leaderboard.core.definitions import definition_key
from leaderboard.core.errors import DatabaseError, KafkaError
from leaderboard.core.logging import get_logger
from leaderboard.core.web import shutdown_share
from leaderboard.ingest.auth import Keyring, Outcome, decide_role
from leaderboard.ingest.definitions import (
    Change,
    DefinitionStore,
    PutResult,
    create_definitions_engine,
)
from leaderboard.ingest.guard import key_guard
from leaderboard.ingest.models import BoardDeleted, Problem
from leaderboard.ingest.producer import Record, ScoreProducer
from leaderboard.ingest.settings import IngestSettings

log = get_logger(__name__)

T = TypeVar("T")

ADMIN_REALM = "leaderboard-admin"
#: Pause between attempts to republish the stored definitions at start-up.
REPUBLISH_RETRY_SECONDS = 5.0

BoardIdPath = Annotated[
    str,
    Path(
        alias="id",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Leaderboard id, `[A-Za-z0-9_-]{1,64}`.",
    ),
]


class RecordSink(Protocol):
    """Where definition records go; ``send_records`` returns once Kafka stored them all."""

    def start(self) -> None: ...
    async def send_records(self, records: Sequence[Record]) -> None: ...
    async def close(self, timeout: float) -> None: ...


class NotPublishedError(Exception):
    """PostgreSQL committed the change but Kafka did not acknowledge it."""


class Definitions:
    """Stores a change, then publishes it; one change at a time in this process, so the
    topic receives a board's records in the order PostgreSQL committed them."""

    def __init__(self, store: DefinitionStore, sink: RecordSink, topic: str) -> None:
        self.store = store
        self.sink = sink
        self.topic = topic
        self._lock = asyncio.Lock()

    async def put(self, board_id: str, spec: BoardSpec, actor: str) -> PutResult:
        async with self._lock:
            result = await asyncio.to_thread(self.store.put, board_id, spec, actor)
            if result.change is not Change.UNCHANGED:
                log.info(
                    "board definition stored",
                    leaderboard=board_id,
                    change=result.change.value,
                    revision=result.definition.revision,
                    actor=actor,
                )
            # Published even when unchanged: a PUT repeated after a 503 publishes it then.
            await self._publish([(definition_key(board_id), result.definition.to_json())], board_id)
            return result

    async def delete(self, board_id: str, actor: str) -> BoardDefinition | None:
        async with self._lock:
            deleted = await asyncio.to_thread(self.store.delete, board_id, actor)
            if deleted is None:
                return None
            log.info(
                "board definition deleted",
                leaderboard=board_id,
                revision=deleted.revision,
                actor=actor,
            )
            await self._publish([(definition_key(board_id), None)], board_id)
            return deleted

    async def republish(self) -> int:
        """Produce every stored definition and a tombstone for every deleted board, so the
        topic converges on PostgreSQL; returns how many records were produced."""
        async with self._lock:
            stored = await asyncio.to_thread(self.store.all)
            deleted = await asyncio.to_thread(self.store.deleted_ids)
            records: list[Record] = [
                (definition_key(definition.id), definition.to_json()) for definition in stored
            ]
            records += [(definition_key(board_id), None) for board_id in deleted]
            await self.sink.send_records(records)
            return len(records)

    async def republish_until_done(self) -> None:
        """``republish`` at start-up, retried until PostgreSQL and Kafka both answer."""
        while True:
            try:
                count = await self.republish()
            except (DatabaseError, KafkaError) as error:
                log.warning(
                    "cannot republish the board definitions yet; retrying",
                    topic=self.topic,
                    error=str(error),
                    retry_seconds=REPUBLISH_RETRY_SECONDS,
                )
                await asyncio.sleep(REPUBLISH_RETRY_SECONDS)
                continue
            log.info("board definitions republished", topic=self.topic, records=count)
            return

    async def _publish(self, records: list[Record], board_id: str) -> None:
        try:
            await self.sink.send_records(records)
        except KafkaError as error:
            log.warning(
                "board change stored but not published; it is republished at the next "
                "start or by repeating the request",
                leaderboard=board_id,
                error=str(error),
                **error.log_context(),
            )
            raise NotPublishedError(str(error)) from error


_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "model": Problem,
        "description": "No admin key, or an unknown one (see `WWW-Authenticate`).",
    },
    status.HTTP_403_FORBIDDEN: {
        "model": Problem,
        "description": "The key is a score-submission key, not an admin key.",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": Problem,
        "description": "The admin API is not configured (no admin keys), PostgreSQL is "
        "unavailable, or the change is stored but Kafka did not acknowledge it (it is "
        "republished at the next start, or repeat the request).",
    },
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": Problem, "description": "No board with this id."}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "description": "An id outside the pattern or an invalid body: `detail` names each "
        'field, e.g. `{"loc": ["body", "operator"], "msg": "Input should be \'sum\', '
        "'best' or 'latest'\"}`."
    }
}


@asynccontextmanager
async def running_definitions(
    settings: IngestSettings, admin_keys: Keyring
) -> AsyncIterator[Definitions]:
    """The admin side of the service from start to shutdown: its engine, its producer and
    the start-up republish, run in the background so that scores are accepted while
    PostgreSQL is away."""
    engine = create_definitions_engine(settings)
    topic = settings.topic_leaderboard_definitions
    definitions = Definitions(
        DefinitionStore(engine),
        ScoreProducer(settings, topic=topic),
        topic,
    )
    definitions.sink.start()
    republishing = asyncio.create_task(definitions.republish_until_done())
    log.info("admin API on", admin_keys=admin_keys.names, topic=topic)
    try:
        yield definitions
    finally:
        republishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await republishing
        await definitions.sink.close(shutdown_share(settings))
        engine.dispose()


def admin_router(
    admin_keys: Keyring | None,
    score_keys: Keyring,
    definitions: Callable[[], Definitions | None],
) -> APIRouter:
    """The ``/api/admin`` routes; ``definitions`` returns the running service's (None
    before start-up or when no admin key is configured)."""
    router = APIRouter(prefix="/api/admin", tags=["admin"], responses=_ADMIN_ERRORS)
    authenticate = _admin_authenticator(admin_keys, score_keys)

    def running() -> Definitions:
        active = definitions()
        if active is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, detail="the service is not started"
            )
        return active

    @router.put(
        "/leaderboards/{id}",
        response_model=BoardDefinition,
        status_code=status.HTTP_200_OK,
        responses={
            status.HTTP_201_CREATED: {
                "model": BoardDefinition,
                "description": "The board was created (revision is higher than any the "
                "id had before).",
            },
            **_INVALID,
        },
        response_description="The board was changed (a new revision), or the stored "
        "definition is identical (same revision, nothing new stored).",
        summary="Create or change a board definition",
    )
    async def put_leaderboard(
        board_id: BoardIdPath,
        spec: BoardSpec,
        response: Response,
        actor: Annotated[str, Depends(authenticate)],
    ) -> BoardDefinition:
        active = running()
        result = await _answering(active.put(board_id, spec, actor))
        if result.change is Change.CREATED:
            response.status_code = status.HTTP_201_CREATED
        return result.definition

    @router.get(
        "/leaderboards/{id}",
        response_model=BoardDefinition,
        responses={**_NOT_FOUND, **_INVALID},
        summary="Read a board definition",
    )
    async def get_leaderboard(
        board_id: BoardIdPath, _actor: Annotated[str, Depends(authenticate)]
    ) -> BoardDefinition:
        active = running()
        definition = await _answering(asyncio.to_thread(active.store.get, board_id))
        if definition is None:
            raise _not_found(board_id)
        return definition

    @router.get(
        "/leaderboards",
        response_model=list[BoardDefinition],
        summary="List every board definition, sorted by id",
    )
    async def list_leaderboards(
        _actor: Annotated[str, Depends(authenticate)],
    ) -> list[BoardDefinition]:
        active = running()
        return await _answering(asyncio.to_thread(active.store.all))

    @router.delete(
        "/leaderboards/{id}",
        response_model=BoardDeleted,
        responses={**_NOT_FOUND, **_INVALID},
        summary="Delete a board definition",
        description="Removes the definition from PostgreSQL and writes a tombstone to the "
        "definitions topic. The board's standings and archived events are not touched.",
    )
    async def delete_leaderboard(
        board_id: BoardIdPath, actor: Annotated[str, Depends(authenticate)]
    ) -> BoardDeleted:
        active = running()
        deleted = await _answering(active.delete(board_id, actor))
        if deleted is None:
            raise _not_found(board_id)
        return BoardDeleted(
            id=board_id,
            revision=deleted.revision,
            detail="the definition is deleted and a tombstone is on the definitions topic",
        )

    return router


async def _answering(work: Awaitable[T]) -> T:
    """Await ``work``, turning a PostgreSQL or Kafka failure into its 503 answer."""
    try:
        return await work
    except DatabaseError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"PostgreSQL is unavailable, nothing was changed: {error}",
            headers={"Retry-After": "5"},
        ) from None
    except NotPublishedError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the change is stored in PostgreSQL but Kafka did not acknowledge it "
            f"({error}); it will be republished at the next start of the service, or "
            "repeat the request",
            headers={"Retry-After": "5"},
        ) from None


def _not_found(board_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no board {board_id!r}")


def _admin_authenticator(
    admin_keys: Keyring | None, score_keys: Keyring
) -> Callable[..., Awaitable[str]]:
    """The dependency deciding on an admin route's key; returns the admin key's name."""

    def refused(name: str | None) -> str:
        return (
            f"the key {name!r} is not an admin key; the admin API takes only keys of "
            "LEADERBOARD_INGEST_ADMIN_KEYS"
        )

    return key_guard(
        lambda presented: decide_role(admin_keys, score_keys, presented),
        kind="admin key",
        realm=ADMIN_REALM,
        refusals={Outcome.WRONG_ROLE: refused, Outcome.DISABLED: refused},
        off=None
        if admin_keys is not None
        else "the admin API is off: no admin key is configured (LEADERBOARD_INGEST_ADMIN_KEYS)",
    )
