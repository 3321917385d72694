"""The REST API: leaderboards, their periods, pages of the ranking, chosen players' rows, a
player's rank and neighbours.

Read live from the Redis sorted sets, each board by its definition and of its current
period unless ``?period=`` names another: a closed one is read from PostgreSQL
(``closed_periods``). Statuses and limits are in docs/api.md, "REST API".
"""

# No `from __future__ import annotations`: FastAPI must resolve the route annotations.
import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import AfterValidator
from redis.exceptions import RedisError

from leaderboard.core.boards import BoardView
from leaderboard.core.definitions import BoardRegistry
from leaderboard.core.errors import DatabaseError
from leaderboard.core.live_periods import LivePeriods
from leaderboard.core.logging import get_logger
from leaderboard.core.periods import (
    ALL_TIME,
    DEFAULT_GRACE_SECONDS,
    PERIOD_ID,
    PERIOD_ID_MAX_LENGTH,
    Period,
    Schedule,
)
from leaderboard.gateway.closed_periods import ClosedPeriod, ClosedPeriods
from leaderboard.gateway.models import (
    TIE_RULE,
    BoardDescription,
    LeaderboardList,
    LeaderboardSummary,
    PeriodList,
    PeriodSummary,
    PlayerNeighbours,
    PlayerRank,
    PlayerRows,
    Problem,
    TopPage,
)
from leaderboard.gateway.period_list import (
    ListedPeriod,
    merge_periods,
    parse_cursor,
    redis_periods,
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
#: Page size of ``/periods`` when ``limit`` is not given.
DEFAULT_PERIODS_LIMIT = 20
#: How long a client should wait before asking again for a closed period.
RETRY_AFTER_SECONDS = "5"

T = TypeVar("T")
_PERIOD_ID = re.compile(PERIOD_ID)

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


def _period_id(value: str | None) -> str | None:
    if value is not None and not _PERIOD_ID.match(value):
        raise ValueError(
            f"not a period id: {value!r}; expected `all`, a day `2026-12-02`, a week "
            "`2026-W49`, a month `2026-12` or a cron period's start `2026-12-02T10:00Z`"
        )
    return value


PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=PERIOD_ID_MAX_LENGTH,
        description="The period to read (an id from `/periods`); the current one when "
        "left out. A closed period is answered with its final standings.",
    ),
    AfterValidator(_period_id),
]


def _cursor(value: str | None) -> str | None:
    if value is not None:
        parse_cursor(value)
    return value


CursorQuery = Annotated[
    str | None,
    Query(max_length=100, description="`next_cursor` of the previous page."),
    AfterValidator(_cursor),
]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {
        "model": Problem,
        "description": "The leaderboard, period or player is unknown; `detail` says which.",
    },
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": Problem,
        "description": "Redis unreachable, or PostgreSQL for a closed period.",
    },
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


def _grace(request: Request, leaderboard_id: str) -> timedelta:
    boards: BoardRegistry = request.app.state.boards
    definition = boards.get(leaderboard_id)
    return timedelta(seconds=DEFAULT_GRACE_SECONDS if definition is None else definition.grace)


def _past_period_id(request: Request, leaderboard_id: str, period_id: str | None) -> str | None:
    """``period_id`` (the live period's when None) when it may be closed (read PostgreSQL
    first); None for the live period while it is open, which Redis alone answers. The
    live period of a board whose window is over is its last, which closes too."""
    live = _period(request, leaderboard_id)
    periods: LivePeriods = request.app.state.periods
    grace = _grace(request, leaderboard_id)
    if period_id in (None, live.id) and live.state(periods.now(), grace) == "open":
        return None
    return live.id if period_id is None else period_id


async def _closed(request: Request, work: Callable[[ClosedPeriods], T]) -> T:
    """``work`` on the closed periods' store, off the event loop; 503 when PostgreSQL fails."""
    store: ClosedPeriods = request.app.state.closed_periods  # set by the app at start-up
    try:
        return await asyncio.to_thread(work, store)
    except DatabaseError as exc:
        log.warning("PostgreSQL unavailable for a closed period", error=str(exc))
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"closed periods are unavailable (PostgreSQL): {exc}; the live period "
            "is still served",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from None


async def _open_period(request: Request, leaderboard_id: str, period_id: str) -> Period:
    """A period not closed yet: the live one or one with keys in Redis; 404 otherwise."""
    live = _period(request, leaderboard_id)
    if period_id == live.id:
        return live
    try:
        present = await _rankings(request).has_period(leaderboard_id, period_id)
    except (RedisError, OSError) as exc:
        raise _redis_down(exc) from None
    if not present:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"period {period_id!r} not found on leaderboard {leaderboard_id!r} "
            "(not the current period, not closed, and nobody scored in it)",
        )
    boards: BoardRegistry = request.app.state.boards
    definition = boards.get(leaderboard_id)
    schedule = Schedule() if definition is None else definition.schedule
    return schedule.period_named(period_id) or Period(period_id, None, None)


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


async def _standings(
    request: Request,
    leaderboard_id: str,
    period_id: str | None,
    closed: Callable[[ClosedPeriods, str], tuple[ClosedPeriod, T] | None],
    live: Callable[[Rankings, BoardView, Period], Awaitable[T]],
) -> tuple[BoardView, Period, T]:
    """A read of ``period_id`` (the current period when None): ``closed`` from PostgreSQL
    when the period may be closed and is, ``live`` from Redis otherwise; with how the
    board showed scores then and the period read."""
    view = _view(request, leaderboard_id)
    past = _past_period_id(request, leaderboard_id, period_id)
    if past is None:
        read = _period(request, leaderboard_id)
    else:
        stored = await _closed(request, lambda store: closed(store, past))
        if stored is not None:
            return stored[0].view, stored[0].period, stored[1]
        read = await _open_period(request, leaderboard_id, past)
    try:
        return view, read, await live(_rankings(request), view, read)
    except (RedisError, OSError) as exc:
        raise _redis_down(exc) from None


async def _neighbourhood(
    request: Request, leaderboard_id: str, player_id: str, radius: int, period_id: str | None
) -> Neighbourhood:
    _, read, found = await _standings(
        request,
        leaderboard_id,
        period_id,
        lambda store, past: store.around(leaderboard_id, past, player_id, radius),
        lambda rankings, view, read: rankings.around(
            leaderboard_id, player_id, radius, view.sort, read.id
        ),
    )
    if found.total == 0 and read.id == ALL_TIME:
        raise _unknown_leaderboard(leaderboard_id)
    if found.rank is None:
        raise _unknown_player(leaderboard_id, player_id, read)
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
        "/leaderboards/{leaderboard_id}/periods",
        response_model=PeriodList,
        summary="A board's periods, newest first",
        description="The current period, those still in Redis (in grace or awaiting their "
        "close) and the closed ones, whose final standings `?period=` reads. A board that "
        "never resets has the one period `all`.",
        responses=_NOT_FOUND,
    )
    async def list_periods(
        request: Request,
        leaderboard_id: LeaderboardPath,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description=f"Periods per page, 1 to {MAX_LIMIT}.")
        ] = DEFAULT_PERIODS_LIMIT,
        cursor: CursorQuery = None,
    ) -> PeriodList:
        boards: BoardRegistry = request.app.state.boards
        definition = boards.get(leaderboard_id)
        live = _period(request, leaderboard_id)
        periods: LivePeriods = request.app.state.periods
        now, grace = periods.now(), _grace(request, leaderboard_id)
        after = None if cursor is None else parse_cursor(cursor)
        try:
            sizes = await _rankings(request).period_sizes(leaderboard_id, live.id)
        except (RedisError, OSError) as exc:
            raise _redis_down(exc) from None
        schedule = Schedule() if definition is None else definition.schedule
        others = {period: count for period, count in sizes.items() if period != live.id}
        in_redis = redis_periods(
            others, {period: schedule.period_named(period) for period in others}, now, grace
        )
        closed: list[ListedPeriod] = []
        if schedule.closes:  # a board whose periods never end has none in PostgreSQL
            rows = await _closed(
                request, lambda store: store.listed(leaderboard_id, limit + 1, after)
            )
            closed = [ListedPeriod(row.period, "closed", row.players, final=True) for row in rows]
        if live.id == ALL_TIME and not sizes[live.id] and not closed and after is None:
            raise _unknown_leaderboard(leaderboard_id)
        live_item = ListedPeriod(live, live.state(now, grace), sizes[live.id])
        page, next_cursor = merge_periods(live_item, in_redis, closed, limit, after)
        return PeriodList(
            leaderboard=leaderboard_id,
            periods=[
                PeriodSummary(
                    id=item.period.id,
                    starts_at=item.period.start,
                    ends_at=item.period.end,
                    state=item.state,
                    players=item.players,
                    final=item.final,
                )
                for item in page
            ],
            next_cursor=next_cursor,
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
        period: PeriodQuery = None,
    ) -> TopPage:
        view, read, page = await _standings(
            request,
            leaderboard_id,
            period,
            lambda store, past: store.page(leaderboard_id, past, offset, limit),
            lambda rankings, view, read: rankings.page(
                leaderboard_id, offset, limit, view.sort, read.id
            ),
        )
        if page.total == 0 and read.id == ALL_TIME:
            raise _unknown_leaderboard(leaderboard_id)
        return TopPage(
            **BoardDescription.fields(view, read),
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
        request: Request,
        leaderboard_id: LeaderboardPath,
        ids: PlayerIds,
        period: PeriodQuery = None,
    ) -> PlayerRows:
        view, read, found = await _standings(
            request,
            leaderboard_id,
            period,
            lambda store, past: store.players(leaderboard_id, past, ids.split(",")),
            lambda rankings, view, read: rankings.players(
                leaderboard_id, ids.split(","), view.sort, read.id
            ),
        )
        if found.total == 0 and read.id == ALL_TIME:
            raise _unknown_leaderboard(leaderboard_id)
        return PlayerRows(
            **BoardDescription.fields(view, read),
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
        request: Request,
        leaderboard_id: LeaderboardPath,
        player_id: PlayerPath,
        period: PeriodQuery = None,
    ) -> PlayerRank:
        found = await _neighbourhood(request, leaderboard_id, player_id, 0, period)
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
        period: PeriodQuery = None,
    ) -> PlayerNeighbours:
        found = await _neighbourhood(request, leaderboard_id, player_id, radius, period)
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
