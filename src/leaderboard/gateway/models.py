"""What the REST API answers (the OpenAPI schemas at ``/docs``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from leaderboard.core.events import SnapshotEntry

TIE_RULE = (
    "Ranks are positions 1..N in the sorted set: higher score first; players with equal "
    "scores are ordered by player id in reverse lexicographic (byte-wise) order, the order "
    "of Redis ZREVRANGE, so every player has a distinct rank and the REST API, the "
    "WebSocket snapshots and the page always agree."
)


class LeaderboardSummary(BaseModel):
    id: str = Field(description="Leaderboard id.")
    players: int = Field(description="Players with a score on it.")


class LeaderboardList(BaseModel):
    leaderboards: list[LeaderboardSummary] = Field(description="Every known leaderboard, by id.")


class TopPage(BaseModel):
    leaderboard: str
    total_players: int = Field(description="Players on the leaderboard.")
    offset: int = Field(description="Rows skipped: the first entry has rank offset + 1.")
    limit: int = Field(description="Most rows asked for.")
    entries: list[SnapshotEntry] = Field(description="Rows by rank; empty past the end.")


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


class Problem(BaseModel):
    detail: str = Field(description="What was wrong, naming the leaderboard or player.")
