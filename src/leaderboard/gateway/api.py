"""The REST API: leaderboards, pages of the ranking, chosen players' rows, a player's rank
and neighbours.

Read live from the Redis sorted sets, each board by its definition and of its current
period; statuses and limits are in docs/api.md, "REST API".
"""

# No `from __future__ import annotations`: FastAPI must resolve the route annotations.
import re
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import AfterValidator
from redis.exceptions import RedisError

from leaderboard.core.boards import BoardView
from leaderboard.core.definitions import BoardRegistry
from leaderboard.core.live_periods import LivePeriods
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import ALL_TIME, Period
from leaderboard.gateway.models import (
    TIE_RULE,
    BoardDescription,
    LeaderboardList,
    LeaderboardSummary,
    PlayerNeighbours,
    PlayerRank,
    PlayerRows,
    Problem,
    TopPage,
)
from leaderboard.gateway.rankings import Neighbourhood, Rankings

log = get_logger(__name__)

#: Page size of ``/top`` when ``limit`` is not given, and the largest accepted.
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
#: Largest ``radius`` accepted by ``/around``, and the default.
MAX_RADIUS = 25
DEFAULT_RADIUS = 5
#: Most player ids ``/players?ids=`` accepts at once.
MAX_PLAYERS = 100

PLAYER_ID = r"^[A-Za-z0-9._:@-]{1,128}$"
_PLAYER_ID = re.compile(PLAYER_ID)

LeaderboardPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Leaderboard id, `[A-Za-z0-9_-]{1,64}`.",
    ),
]
PlayerPath = Annotated[
    str,
    Path(pattern=PLAYER_ID, description="Player id."),
]


def _player_ids(value: str) -> str:
    """``value`` if it is 1 to ``MAX_PLAYERS`` distinct player ids, comma-separated."""
    ids = value.split(",")
    if len(ids) > MAX_PLAYERS:
        raise ValueError(f"{len(ids)} player ids; at most {MAX_PLAYERS} are accepted")
    invalid = [player for player in ids if not _PLAYER_ID.match(player)]
    if invalid:
        raise ValueError(f"not a player id ([A-Za-z0-9._:@-], 1 to 128 characters): {invalid[0]!r}")
    repeated = [player for player, count in Counter(ids).items() if count > 1]
    if repeated:
        raise ValueError(f"player ids must be distinct; repeated: {', '.join(repeated)}")
    return value


PlayerIds = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_PLAYERS * 129,
        description=f"1 to {MAX_PLAYERS} distinct player ids, separated by commas: `a,b,c`.",
    ),
    AfterValidator(_player_ids),
]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {
        "model": Problem,
        "description": "The leaderboard (or player) is unknown; `detail` says which.",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Problem, "description": "Redis unreachable."},
}


def _rankings(request: Request) -> Rankings:
    rankings: Rankings = request.app.state.rankings  # set by the app at start-up
    return rankings


def _view(request: Request, leaderboard_id: str) -> BoardView:
    boards: BoardRegistry = request.app.state.boards  # set by the app at start-up
    return boards.view(leaderboard_id)


def _period(request: Request, leaderboard_id: str) -> Period:
    """The board's current period: the one its reads are of."""
    periods: LivePeriods = request.app.state.periods  # set by the app at start-up
    return periods.of(leaderboard_id)


def _unknown_leaderboard(leaderboard_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail=f"leaderboard {leaderboard_id!r} not found (no scores recorded on it)",
    )


def _unknown_player(leaderboard_id: str, player_id: str, period: Period) -> HTTPException:
    where = "" if period.id == ALL_TIME else f" in period {period.id!r}"
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail=f"player {player_id!r} not found on leaderboard {leaderboard_id!r}{where}",
    )


def _redis_down(exc: Exception) -> HTTPException:
    log.warning("Redis unavailable for a REST request", error=str(exc))
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, detail="the ranking store (Redis) is unreachable"
    )


async def _neighbourhood(
    request: Request, leaderboard_id: str, player_id: str, radius: int
) -> Neighbourhood:
    sort = _view(request, leaderboard_id).sort
    period = _period(request, leaderboard_id)
    try:
        found = await _rankings(request).around(leaderboard_id, player_id, radius, sort, period.id)
    except (RedisError, OSError) as exc:
        raise _redis_down(exc) from None
    if found.total == 0 and period.id == ALL_TIME:
        raise _unknown_leaderboard(leaderboard_id)
    if found.rank is None:
        raise _unknown_player(leaderboard_id, player_id, period)
    return found


def api_router() -> APIRouter:
    """The ``/api`` routes."""
    router = APIRouter(prefix="/api", tags=["leaderboards"])

    @router.get(
        "/leaderboards",
        response_model=LeaderboardList,
        summary="Known leaderboards",
        responses={503: _NOT_FOUND[503]},
    )
    async def list_leaderboards(request: Request) -> LeaderboardList:
        try:
            boards = await _rankings(request).leaderboards(lambda board: _period(request, board).id)
        except (RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        return LeaderboardList(
            leaderboards=[
                LeaderboardSummary(
                    id=board,
                    players=count,
                    **BoardDescription.fields(_view(request, board), _period(request, board)),
                )
                for board, count in boards
            ]
        )

    @router.get(
        "/leaderboards/{leaderboard_id}/top",
        response_model=TopPage,
        summary="A page of the ranking",
        description=f"Rows `offset + 1` to `offset + limit` of the ranking. {TIE_RULE}",
        responses=_NOT_FOUND,
    )
    async def top(
        request: Request,
        leaderboard_id: LeaderboardPath,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}.")
        ] = DEFAULT_LIMIT,
        offset: Annotated[
            int, Query(ge=0, le=10_000_000, description="Rows to skip (0 starts at rank 1).")
        ] = 0,
    ) -> TopPage:
        view = _view(request, leaderboard_id)
        period = _period(request, leaderboard_id)
        try:
            page = await _rankings(request).page(
                leaderboard_id, offset, limit, view.sort, period.id
            )
        except (RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        if page.total == 0 and period.id == ALL_TIME:
            raise _unknown_leaderboard(leaderboard_id)
        return TopPage(
            **BoardDescription.fields(view, period),
            leaderboard=leaderboard_id,
            total_players=page.total,
            offset=offset,
            limit=limit,
            entries=page.entries,
        )

    @router.get(
        "/leaderboards/{leaderboard_id}/players",
        response_model=PlayerRows,
        summary="Chosen players' rows (a friends leaderboard)",
        description="The rows of those of the players in `ids` that have a score on the "
        "leaderboard, by rank; the others are left out. Read in one Redis round trip, so "
        f"the rows are consistent with each other. {TIE_RULE}",
        responses=_NOT_FOUND,
    )
    async def players(
        request: Request, leaderboard_id: LeaderboardPath, ids: PlayerIds
    ) -> PlayerRows:
        view = _view(request, leaderboard_id)
        period = _period(request, leaderboard_id)
        try:
            found = await _rankings(request).players(
                leaderboard_id, ids.split(","), view.sort, period.id
            )
        except (RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        if found.total == 0 and period.id == ALL_TIME:
            raise _unknown_leaderboard(leaderboard_id)
        return PlayerRows(
            **BoardDescription.fields(view, period),
            leaderboard=leaderboard_id,
            total_players=found.total,
            entries=found.entries,
        )

    @router.get(
        "/leaderboards/{leaderboard_id}/players/{player_id}",
        response_model=PlayerRank,
        summary="A player's rank and score",
        description=TIE_RULE,
        responses=_NOT_FOUND,
    )
    async def player(
        request: Request, leaderboard_id: LeaderboardPath, player_id: PlayerPath
    ) -> PlayerRank:
        found = await _neighbourhood(request, leaderboard_id, player_id, 0)
        row = found.player
        assert row is not None
        return PlayerRank(
            leaderboard=leaderboard_id,
            total_players=found.total,
            rank=row.rank,
            player_id=row.player_id,
            display_name=row.display_name,
            score=row.score,
        )

    @router.get(
        "/leaderboards/{leaderboard_id}/players/{player_id}/around",
        response_model=PlayerNeighbours,
        summary="A player's neighbours above and below",
        description="The player's row and up to `radius` rows on each side; near rank 1 or "
        f"the last rank there are fewer on that side. {TIE_RULE}",
        responses=_NOT_FOUND,
    )
    async def around(
        request: Request,
        leaderboard_id: LeaderboardPath,
        player_id: PlayerPath,
        radius: Annotated[
            int, Query(ge=0, le=MAX_RADIUS, description=f"Rows on each side, 0 to {MAX_RADIUS}.")
        ] = DEFAULT_RADIUS,
    ) -> PlayerNeighbours:
        found = await _neighbourhood(request, leaderboard_id, player_id, radius)
        row = found.player
        assert row is not None
        assert found.rank is not None
        return PlayerNeighbours(
            leaderboard=leaderboard_id,
            total_players=found.total,
            radius=radius,
            player=row,
            above=[entry for entry in found.entries if entry.rank < found.rank],
            below=[entry for entry in found.entries if entry.rank > found.rank],
        )

    return router
