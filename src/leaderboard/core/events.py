"""The event contract: every message the services exchange, and how it is checked.

Enforces exactly what docs/events.md describes; ``decode_score_event()`` is the single gate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from leaderboard.core.errors import LeaderboardError
from leaderboard.core.periods import ALL_TIME

SCHEMA_VERSION: Final = 1
DEFAULT_LEADERBOARD = "global"

#: Largest magnitude of a score and of every score bound: JavaScript's
#: Number.MAX_SAFE_INTEGER. Redis sorted-set scores and browsers' JSON numbers are doubles,
#: exact only up to it; PostgreSQL's BIGINT holds it.
SAFE_INTEGER: Final = 2**53 - 1
#: The pydantic error type of a value beyond it (every such value is a score or a bound).
SCORE_OUT_OF_BOUNDS: Final = "score_out_of_bounds"


def _within_safe_integer(value: int) -> int:
    if not -SAFE_INTEGER <= value <= SAFE_INTEGER:
        raise PydanticCustomError(
            SCORE_OUT_OF_BOUNDS,
            "Input should be within the contract limits [-{limit}, {limit}] (2**53 - 1)",
            {"limit": SAFE_INTEGER},
        )
    return value


#: An integer within ±``SAFE_INTEGER``: a score, or a bound of scores.
SafeInteger = Annotated[
    int,
    AfterValidator(_within_safe_integer),
    Field(json_schema_extra={"minimum": -SAFE_INTEGER, "maximum": SAFE_INTEGER}),
]

#: An event's score: the same limits as ``SafeInteger``, checked by pydantic's own
#: constraints (no Python call per event on the consumers' hot path); the decoder names them.
ContractScore = Annotated[int, Field(ge=-SAFE_INTEGER, le=SAFE_INTEGER)]
_BEYOND_LIMIT = frozenset({"greater_than_equal", "less_than_equal"})

#: Leaderboard ids appear in Redis keys, Kafka keys and URLs: keep them plain.
LeaderboardId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
#: Player ids come from game servers; printable, no whitespace, bounded.
PlayerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:@-]{1,128}$")]
DisplayName = Annotated[str, Field(min_length=1, max_length=64)]
#: How a board combines, orders and shows scores (``core.boards``; here because snapshots
#: carry them and ``core.boards`` imports this module).
Operator = Literal["sum", "best", "latest"]
Sort = Literal["desc", "asc"]
ScoreFormat = Literal["integer", "time_ms"]


class InvalidEventError(LeaderboardError):
    """A message that does not satisfy the event contract.

    ``reason`` is one of ``invalid_json``, ``invalid_fields``, ``score_out_of_bounds``,
    ``unknown_version`` or ``unknown_leaderboard``; ``detail`` says what exactly was wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class ScoreBounds:
    """Accepted range of one score delta (inclusive)."""

    minimum: int = 1
    maximum: int = 1_000_000

    def check(self, score: int) -> None:
        if not self.minimum <= score <= self.maximum:
            raise InvalidEventError(
                SCORE_OUT_OF_BOUNDS,
                f"score {score} is outside [{self.minimum}, {self.maximum}]",
            )


class _Contract(BaseModel):
    # strict: 42.0 or "42" is not an integer score; extra="forbid": exactly these fields.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScoreEvent(_Contract):
    """One score delta for one player on one leaderboard (topic ``game-score``)."""

    event_id: uuid.UUID
    leaderboard: LeaderboardId = DEFAULT_LEADERBOARD
    player_id: PlayerId
    display_name: DisplayName | None = None
    score: ContractScore
    occurred_at: AwareDatetime
    version: Literal[1]

    @property
    def key(self) -> bytes:
        """The Kafka key: all events of one player on one leaderboard share a partition."""
        return f"{self.leaderboard}:{self.player_id}".encode()

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


def decode_score_event(raw: bytes | None, bounds: ScoreBounds | None) -> ScoreEvent:
    """Parse and validate one ``game-score`` message value, or raise InvalidEventError
    (``bounds`` None: the caller checks the score against its board's bounds, or, as the
    archiver, only against the contract's ``SAFE_INTEGER``)."""
    if raw is None:
        raise InvalidEventError("invalid_json", "message has no value")
    try:
        # The model's validator itself: what model_validate_json calls, minus a wrapper
        # that costs a tenth of the decoding time on the consumers' hot path.
        event: ScoreEvent = ScoreEvent.__pydantic_validator__.validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise InvalidEventError("invalid_json", errors[0]["msg"]) from None
        if any(error["loc"] == ("version",) and error["type"] != "missing" for error in errors):
            raise InvalidEventError(
                "unknown_version", f"unsupported schema version (this code reads {SCHEMA_VERSION})"
            ) from None
        beyond = [e for e in errors if e["loc"] == ("score",) and e["type"] in _BEYOND_LIMIT]
        if beyond:
            detail = (
                f"score {beyond[0]['input']} is outside the contract limits "
                f"[-{SAFE_INTEGER}, {SAFE_INTEGER}] (2**53 - 1)"
            )
            if len(beyond) == len(errors):
                raise InvalidEventError(SCORE_OUT_OF_BOUNDS, detail) from None
            others = [e for e in errors if e not in beyond]
            raise InvalidEventError(
                "invalid_fields", f"score: {detail}; {_describe(others)}"
            ) from None
        raise InvalidEventError("invalid_fields", _describe(errors)) from None
    if bounds is not None:
        bounds.check(event.score)
    return event


def _describe(errors: list[ErrorDetails]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"]) or "message"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class LeaderboardChange(_Contract):
    """One leaderboard that changed, and the newest event time now reflected in it."""

    leaderboard: LeaderboardId
    newest_event_at: AwareDatetime


class ChangeNotice(_Contract):
    """Topic ``leaderboard-change``: what one applied batch changed."""

    changes: list[LeaderboardChange]
    sent_at: AwareDatetime
    version: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class SnapshotEntry(_Contract):
    """One row of a leaderboard snapshot."""

    rank: Annotated[int, Field(ge=1)]
    player_id: PlayerId
    display_name: DisplayName | None = None
    score: int


class LeaderboardSnapshot(_Contract):
    """Topic ``leaderboard`` and the Redis cache: the top N of one leaderboard, in its
    board's order, with what a client needs to show it (optional: older snapshots lack
    them and read as the defaults)."""

    leaderboard: LeaderboardId
    version: Annotated[int, Field(ge=1)]
    entries: list[SnapshotEntry]
    generated_at: AwareDatetime
    newest_event_at: AwareDatetime | None
    title: str | None = None
    sort: Sort = "desc"
    format: ScoreFormat = "integer"
    operator: Operator = "sum"
    #: The period the entries are of (``all``: the board never resets) and when it ends
    #: (None: never); older snapshots lack them and read as all-time.
    period: Annotated[str, Field(min_length=1, max_length=64)] = ALL_TIME
    period_ends_at: AwareDatetime | None = None
    schema_version: Literal[1] = SCHEMA_VERSION

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class ClosedEntry(SnapshotEntry):
    """One row of a closed period's standings: also when the player reached its score
    (the tie-break: of two equal scores, the earlier ranks higher)."""

    reached_at: AwareDatetime


class PeriodClosed(_Contract):
    """Topic ``leaderboard-period-closed``, keyed by ``<board>/<period>``: a period of a
    board closed, and its final standings are stored (one message per period)."""

    leaderboard: LeaderboardId
    period: Annotated[str, Field(min_length=1, max_length=64)]
    starts_at: AwareDatetime | None
    ends_at: AwareDatetime
    closed_at: AwareDatetime
    #: Players in the final standings (``top`` holds the first of them).
    players: Annotated[int, Field(ge=0)]
    top: list[ClosedEntry]
    sort: Sort = "desc"
    format: ScoreFormat = "integer"
    operator: Operator = "sum"
    version: Literal[1] = SCHEMA_VERSION

    @property
    def key(self) -> bytes:
        return period_close_key(self.leaderboard, self.period)

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


def period_close_key(board: str, period: str) -> bytes:
    """The key of a period's ``PeriodClosed`` message (board ids hold no ``/``)."""
    return f"{board}/{period}".encode()


def utc_now() -> datetime:
    """The current time, time-zone aware (every timestamp in the contract carries one)."""
    return datetime.now(UTC)
