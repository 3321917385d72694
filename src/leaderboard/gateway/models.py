"""What the REST API answers (the OpenAPI schemas at ``/docs``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from leaderboard.core.boards import BoardView, Operator, ScoreFormat, Sort
from leaderboard.core.events import SnapshotEntry
from leaderboard.core.periods import Period, PeriodState

TIE_RULE = (
    "Ranks are positions 1..N: the best score first (the highest, or the lowest on a board "
    "sorted `asc`); of players with equal scores, the one who reached that score first "
    "(the `occurred_at` of the event that produced it, to the microsecond) ranks higher, "
    "and equal reach times are ordered by player id in reverse byte-wise order. Every "
    "player has a distinct rank, and the REST API, the WebSocket snapshots and the page "
    "always agree."
)


class BoardDescription(BaseModel):
    """How a leaderboard ranks and shows its scores (its definition, or the defaults), and
    the period the answer is of."""

    title: str = Field(description="The board's title; its id when it has no definition.")
    sort: Sort = Field(description="`desc`: the highest score ranks first; `asc`: the lowest.")
    format: ScoreFormat = Field(
        description="How to show scores: `integer`, or `time_ms` (milliseconds, shown as a "
        "time such as 1:23.456)."
    )
    operator: Operator = Field(
        description="How a player's scores combine: `sum`, `best` (by the board's sort) or "
        "`latest`."
    )
    period: str = Field(
        description="The period whose standings these are: `all` on a board that never "
        "resets, else the board's current period, e.g. `2026-12-02` (daily), `2026-W49` "
        "(weekly), `2026-12` (monthly) or `2026-12-02T10:00Z` (cron: its start in UTC)."
    )
    period_ends_at: datetime | None = Field(
        description="When that period ends and the board starts afresh (UTC); null when "
        "it never does."
    )

    @staticmethod
    def fields(view: BoardView, period: Period) -> dict[str, Any]:
        """These fields' values for a board in ``period`` (keyword arguments of a subclass)."""
        return {
            "title": view.title,
            "sort": view.sort,
            "format": view.format,
            "operator": view.operator,
            "period": period.id,
            "period_ends_at": period.end,
        }


class LeaderboardSummary(BoardDescription):
    id: str = Field(description="Leaderboard id.")
    players: int = Field(description="Players with a score in its current period.")


class LeaderboardList(BaseModel):
    leaderboards: list[LeaderboardSummary] = Field(description="Every known leaderboard, by id.")


class TopPage(BoardDescription):
    leaderboard: str
    total_players: int = Field(description="Players on the leaderboard in `period`.")
    offset: int = Field(description="Rows skipped: the first entry has rank offset + 1.")
    limit: int = Field(description="Most rows asked for.")
    entries: list[SnapshotEntry] = Field(description="Rows by rank; empty past the end.")


class PlayerRows(BoardDescription):
    leaderboard: str
    total_players: int = Field(description="Players on the leaderboard in `period`.")
    entries: list[SnapshotEntry] = Field(
        description="The rows of the asked players that have a score, by rank; players "
        "without one are left out."
    )


class PlayerRank(BaseModel):
    leaderboard: str
    total_players: int
    rank: int = Field(description="1 for the top player.")
    player_id: str
    display_name: str | None
    score: int


class PlayerNeighbours(BaseModel):
    leaderboard: str
    total_players: int
    radius: int = Field(description="Rows asked for on each side of the player.")
    player: SnapshotEntry = Field(description="The player's own row.")
    above: list[SnapshotEntry] = Field(
        description="Up to `radius` better-ranked rows, best first (fewer near rank 1)."
    )
    below: list[SnapshotEntry] = Field(
        description="Up to `radius` worse-ranked rows, by rank (fewer near the last rank)."
    )


class PeriodSummary(BaseModel):
    id: str = Field(
        description="The period's id, e.g. `2026-12-02`, `2026-W49`, `2026-12`, "
        "`2026-12-02T10:00Z` or `all`; pass it as `?period=`."
    )
    starts_at: datetime | None = Field(description="Its start (UTC); null when unbounded.")
    ends_at: datetime | None = Field(
        description="Its end (UTC, excluded); null when it never ends."
    )
    state: PeriodState = Field(
        description="`open` until its end, `grace` while late events still count, then "
        "`closed` (by time: its final standings are read from PostgreSQL once stored)."
    )
    players: int | None = Field(description="Players with a score in it; null when unknown.")
    final: bool = Field(
        description="Its final standings are stored (it was closed): `?period=` reads them "
        "from PostgreSQL. A period `closed` by time but not yet `final` is read from Redis."
    )


class PeriodList(BaseModel):
    leaderboard: str
    periods: list[PeriodSummary] = Field(
        description="Newest first: the live period, then those still in grace or awaiting "
        "their close, then the closed ones; periods in which nobody scored are left out, "
        "except the live one."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Problem(BaseModel):
    detail: str = Field(description="What was wrong, naming the leaderboard or player.")
