"""Board definitions: how a leaderboard combines, sorts and shows its scores.

PostgreSQL holds them; the compacted ``leaderboard-definitions`` topic carries them to every
service (docs/architecture.md, "Board definitions").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from leaderboard.core.events import (
    LeaderboardId,
    Operator,
    SafeInteger,
    ScoreBounds,
    ScoreFormat,
    Sort,
)
from leaderboard.core.periods import (
    DEFAULT_GRACE_SECONDS,
    MAX_GRACE_SECONDS,
    Schedule,
    check_reset,
    check_timezone,
)

#: Largest ``metadata`` object, as compact JSON: definitions travel in every service's memory.
METADATA_MAX_BYTES = 4096
#: Largest ``top_n`` a board may ask of its snapshots (the page and the cache stay small).
TOP_N_MAX = 100

__all__ = [
    "BoardDefinition",
    "BoardSpec",
    "BoardView",
    "Operator",
    "ScoreFormat",
    "Sort",
    "board_bounds",
]


class BoardSpec(BaseModel):
    """What an operator sets for a board (the body of ``PUT /api/admin/leaderboards/{id}``).

    ``None`` bounds and ``top_n`` mean the deployment's (``LEADERBOARD_SCORE_MIN``/``_MAX``,
    ``LEADERBOARD_PUBLISHER_TOP_N``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1, max_length=128)]
    metadata: dict[str, Any] = Field(default_factory=dict)
    operator: Operator = "sum"
    sort: Sort = "desc"
    score_min: SafeInteger | None = None
    score_max: SafeInteger | None = None
    top_n: Annotated[int, Field(ge=1, le=TOP_N_MAX)] | None = None
    format: ScoreFormat = "integer"
    #: ``none``, ``daily``, ``weekly`` (Monday), ``monthly`` or a cron expression of five
    #: fields, in ``timezone``; ``starts_at``/``ends_at`` bound the board's window.
    reset: Annotated[str, Field(max_length=100), AfterValidator(check_reset)] = "none"
    timezone: Annotated[str, AfterValidator(check_timezone)] = "UTC"
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    #: Seconds after a period's end during which its late events still count.
    grace: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS)] = DEFAULT_GRACE_SECONDS

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(orjson.dumps(value))
        if size > METADATA_MAX_BYTES:
            raise ValueError(f"is {size} bytes as JSON, more than {METADATA_MAX_BYTES}")
        return value

    @model_validator(mode="after")
    def _ordered_bounds(self) -> BoardSpec:
        if (
            self.score_min is not None
            and self.score_max is not None
            and self.score_min > self.score_max
        ):
            raise ValueError(f"score_min {self.score_min} is above score_max {self.score_max}")
        self.schedule  # noqa: B018 (a window that ends before it starts raises here)
        return self

    @property
    def schedule(self) -> Schedule:
        """Built (and checked) on each call: a hot path keeps its own."""
        return Schedule(self.reset, self.timezone, self.starts_at, self.ends_at)


class BoardDefinition(BoardSpec):
    """A stored board: its spec, its id and its revision (a counter PostgreSQL raises on
    every change, so a service folding the topic keeps the newest it has seen)."""

    id: LeaderboardId
    revision: Annotated[int, Field(ge=1)]
    updated_at: AwareDatetime
    #: The last reset (``POST /api/admin/leaderboards/{id}/reset``): events that occurred
    #: before it never count again, also when the standings are rebuilt from Kafka.
    reset_at: AwareDatetime | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes) -> BoardDefinition:
        return cls.model_validate_json(raw)


def board_bounds(definition: BoardSpec | None, deployment: ScoreBounds) -> ScoreBounds:
    """The bounds of a board's scores: its definition's, the deployment's where it has
    none or sets none."""
    if definition is None:
        return deployment
    return ScoreBounds(
        deployment.minimum if definition.score_min is None else definition.score_min,
        deployment.maximum if definition.score_max is None else definition.score_max,
    )


@dataclass(frozen=True)
class BoardView:
    """What the read side needs of a board: how to rank and show it. A board without a
    definition gets the defaults, titled by its id."""

    title: str
    sort: Sort = "desc"
    format: ScoreFormat = "integer"
    operator: Operator = "sum"
    #: None: the deployment's ``LEADERBOARD_PUBLISHER_TOP_N``.
    top_n: int | None = None

    @classmethod
    def of(cls, board_id: str, definition: BoardDefinition | None) -> BoardView:
        if definition is None:
            return cls(title=board_id)
        return cls(
            title=definition.title,
            sort=definition.sort,
            format=definition.format,
            operator=definition.operator,
            top_n=definition.top_n,
        )
