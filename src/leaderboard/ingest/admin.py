"""The admin API's routes and their answers: board definitions, resets and moderation
(the operations are ``leaderboard.ingest.board_admin``'s).

Design and status codes: docs/api.md, "Admin API"; docs/services.md, "Ingest API".
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations.
import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Response, status
from pydantic import AfterValidator
from redis.exceptions import RedisError

from leaderboard.core.boards import BoardDefinition, BoardSpec
from leaderboard.core.erasures import erasure_key
from leaderboard.core.errors import DatabaseError
from leaderboard.ingest.auth import Keyring, Outcome, decide_role
from leaderboard.ingest.board_admin import (
    Definitions,
    ErasureIncompleteError,
    NotAuditedError,
    NotPublishedError,
    StandingsNotClearedError,
)
from leaderboard.ingest.definitions import Change, StandingsConflictError
from leaderboard.ingest.guard import key_guard
from leaderboard.ingest.models import (
    REASON_MAX_CHARS,
    BoardDeleted,
    BoardReset,
    PlayerErased,
    PlayerRemoved,
    Problem,
    ResetRequest,
)

T = TypeVar("T")

ADMIN_REALM = "leaderboard-admin"

BoardIdPath = Annotated[
    str,
    Path(
        alias="id",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Leaderboard id, `[A-Za-z0-9_-]{1,64}`.",
    ),
]
#: ``core.events.PlayerId``'s pattern.
PLAYER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
PlayerIdPath = Annotated[
    str,
    Path(pattern=PLAYER_ID_PATTERN, description="Player id, `[A-Za-z0-9._:@-]{1,128}`."),
]


def _not_blank(reason: str) -> str:
    if not reason.strip():
        raise ValueError("must not be blank: say why the player is removed")
    return reason


ReasonQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=REASON_MAX_CHARS,
        description="Why the player is removed (required; kept in the audit table).",
    ),
    AfterValidator(_not_blank),
]
ResetQuery = Annotated[
    bool,
    Query(
        description="Reset the board with this change (one revision): needed to change "
        "`operator`, `sort`, `reset` or `timezone` of a board that has standings."
    ),
]


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
        "description": "The admin API is not configured (no admin keys); PostgreSQL or "
        "Redis is unavailable (nothing changed); or the change is stored but Kafka did not "
        "acknowledge it (it is republished at the next start), Redis did not clear the "
        "standings of a stored reset, or a removal could not be audited: `detail` says "
        "which; repeat the request.",
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


_CONFLICT: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "model": Problem,
        "description": "The change of `operator`, `sort`, `reset` or `timezone` is refused: "
        "the board has "
        "standings (ranked by the stored definition, or by the defaults when it has none). "
        "Nothing changed; repeat with `?reset=true` to reset the board with the change.",
    }
}


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

    _definition_routes(router, authenticate, running)
    _standings_routes(router, authenticate, running)
    return router


def _definition_routes(
    router: APIRouter,
    authenticate: Callable[..., Awaitable[str]],
    running: Callable[[], Definitions],
) -> None:
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
            **_CONFLICT,
            **_INVALID,
        },
        response_description="The board was changed (a new revision), or the stored "
        "definition is identical (same revision, nothing new stored).",
        summary="Create or change a board definition",
        description="A change of `operator`, `sort`, `reset` or `timezone` while the board "
        "has standings is "
        "refused with 409 unless `reset=true`: then the board is reset with the change, in "
        "the same revision (see the reset route).",
    )
    async def put_leaderboard(
        board_id: BoardIdPath,
        spec: BoardSpec,
        response: Response,
        actor: Annotated[str, Depends(authenticate)],
        reset: ResetQuery = False,
    ) -> BoardDefinition:
        active = running()
        result = await _answering(active.put(board_id, spec, actor, reset=reset))
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


def _standings_routes(
    router: APIRouter,
    authenticate: Callable[..., Awaitable[str]],
    running: Callable[[], Definitions],
) -> None:
    @router.post(
        "/leaderboards/{id}/reset",
        response_model=BoardReset,
        responses={
            status.HTTP_404_NOT_FOUND: {
                "model": Problem,
                "description": "No board definition with this id (only defined boards are reset).",
            },
            **_INVALID,
        },
        summary="Reset a board: clear its standings now",
        description="Sets the definition's `reset_at` to now under a new revision (one "
        "transaction, with an audit row), clears the board's standings in every period, "
        "its display names and cached snapshot in Redis, publishes the definition and "
        "tells the publisher. Events that occurred before `reset_at` never count on the "
        "board again; the archive keeps every event. Each request is a new reset: a repeat "
        "leaves the board empty as well (`players_removed` 0 unless scores arrived in "
        "between).",
    )
    async def reset_leaderboard(
        board_id: BoardIdPath,
        actor: Annotated[str, Depends(authenticate)],
        body: Annotated[ResetRequest | None, Body()] = None,
    ) -> BoardReset:
        active = running()
        reason = body.reason if body is not None else None
        done = await _answering(active.reset(board_id, actor, reason))
        if done is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"no board definition {board_id!r}: only a defined board is reset",
            )
        definition, removed = done
        assert definition.reset_at is not None
        return BoardReset(
            id=board_id,
            revision=definition.revision,
            reset_at=definition.reset_at,
            players_removed=removed or 0,
            detail="the board is reset: its standings are cleared and its definition, with "
            "reset_at, is on the definitions topic"
            if removed is not None
            else "the reset is stored and published; a later reset had already cleared the "
            "standings",
        )

    @router.delete(
        "/leaderboards/{id}/players/{player_id}",
        response_model=PlayerRemoved,
        responses={
            status.HTTP_404_NOT_FOUND: {
                "model": Problem,
                "description": "No board with this id: neither a definition nor standings.",
            },
            **_INVALID,
        },
        summary="Remove a player's standing from a board (moderation)",
        description="Removes the player's score and place in every period of the board, "
        "and its display name, in one Redis script (the answer's `score` is its standing "
        "in the board's live period), and records who, when, what and `reason` in the audit "
        "table. Idempotent: a repeat answers `removed: false` (and is audited too). Works "
        "for boards without a definition. The player's later events count again; the "
        "archive keeps every event.",
    )
    async def remove_player(
        board_id: BoardIdPath,
        player_id: PlayerIdPath,
        reason: ReasonQuery,
        actor: Annotated[str, Depends(authenticate)],
    ) -> PlayerRemoved:
        active = running()
        removal = await _answering(active.remove_player(board_id, player_id, actor, reason))
        if removal is None:
            raise _not_found(board_id)
        return PlayerRemoved(
            id=board_id,
            player_id=player_id,
            removed=removal.removed,
            score=removal.score,
            reached_at=removal.reached_at,
            reason=reason,
            detail="the player's standing is removed and the removal audited"
            if removal.removed
            else "the player has no standing on this board; the request is audited",
        )

    @router.delete(
        "/players/{player_id}",
        response_model=PlayerErased,
        responses={**_INVALID},
        summary="Erase a player everywhere (right to erasure)",
        description="Records the player's hash in the suppression list, deletes its "
        "archived events and replaces its id by its hash in earlier audit rows (one "
        "PostgreSQL transaction), publishes the erasure to the erasures topic, then removes "
        "its standings (in every period) and display names from every board in Redis and tells the "
        "publisher. From then on its events are dead-lettered with reason `erased_player` "
        "and never archived, also after a replay from Kafka. Idempotent: a repeat "
        "completes whatever a failure left undone and answers `already_erased: true`.",
    )
    async def erase_player(
        player_id: PlayerIdPath, actor: Annotated[str, Depends(authenticate)]
    ) -> PlayerErased:
        erased = await _answering(running().erase_player(player_id, actor))
        recorded = erased.recorded
        return PlayerErased(
            player_id=player_id,
            player_hash=erasure_key(player_id),
            erased_at=recorded.erased_at,
            already_erased=recorded.already_erased,
            archived_events_deleted=recorded.archived_rows_deleted,
            audit_rows_pseudonymised=recorded.audit_rows_pseudonymised,
            boards=erased.boards,
            detail="the player is erased: suppressed, its archived events deleted, its "
            "standings and display names removed from every board",
        )


#: What a failure of each dependency left done, as the 503 answer says it (``{error}``: the
#: failure). Order matters: the first class an error is an instance of is used.
_UNAVAILABLE: tuple[tuple[type[Exception], str], ...] = (
    (RedisError, "Redis is unavailable, nothing was changed: {error}"),
    (
        StandingsNotClearedError,
        "the reset is stored in PostgreSQL and published, but Redis did not clear the "
        "standings ({error}); repeat the request",
    ),
    (
        ErasureIncompleteError,
        "the erasure is stored in PostgreSQL and published, but Redis did not remove the "
        "player's standings ({error}); repeat the request",
    ),
    (
        NotAuditedError,
        "the player's standing is removed but PostgreSQL did not store the audit row "
        "({error}); repeat the request to record it",
    ),
    (DatabaseError, "PostgreSQL is unavailable, nothing was changed: {error}"),
    (
        NotPublishedError,
        "the change is stored in PostgreSQL but Kafka did not acknowledge it ({error}); it "
        "will be republished at the next start of the service, or repeat the request",
    ),
)


async def _answering(work: Awaitable[T]) -> T:
    """Await ``work``, turning a refusal into 409 and a PostgreSQL, Redis or Kafka
    failure into its 503 answer."""
    try:
        return await work
    except StandingsConflictError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
    except tuple(kind for kind, _ in _UNAVAILABLE) as error:
        detail = next(text for kind, text in _UNAVAILABLE if isinstance(error, kind))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=detail.format(error=error),
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
