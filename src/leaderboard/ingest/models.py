"""What callers send and what the API answers, and the parser from body bytes to events.

``ScoreEventIn`` is the contract's ``ScoreEvent`` with defaults for game servers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

import orjson
from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from leaderboard.core.events import (
    DEFAULT_LEADERBOARD,
    SCHEMA_VERSION,
    DisplayName,
    InvalidEventError,
    LeaderboardId,
    PlayerId,
    SafeInteger,
    ScoreBounds,
    ScoreEvent,
)

#: The bounds of a board's scores, by board id (its definition's, else the deployment's).
BoardBounds = Callable[[str], ScoreBounds]
#: The key under which the parser passes the ``BoardBounds`` to the validators.
BOUNDS_CONTEXT = "score_bounds"

#: C0 controls, DEL and C1 controls: they rewrite terminals, log viewers and page text,
#: and PostgreSQL text cannot hold a NUL. Nothing a game server means to show.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class ScoreEventIn(BaseModel):
    """One score event as a game server submits it."""

    # Same strictness as the contract: "10" or 10.0 is not a score, unknown fields are errors.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    event_id: uuid.UUID | None = Field(
        None,
        description="Unique id of this event. Consumers drop an event whose id they already "
        "applied, so resend a failed request with the SAME ids. Generated (UUID4) when "
        "omitted, which makes a blind retry count twice.",
    )
    leaderboard: LeaderboardId = Field(
        DEFAULT_LEADERBOARD, description="Leaderboard id, `[A-Za-z0-9_-]{1,64}`."
    )
    player_id: PlayerId = Field(description="Player id, `[A-Za-z0-9._:@-]{1,128}`.")
    display_name: DisplayName | None = Field(
        None, description="Name shown on the board: 1 to 64 characters, no control characters."
    )
    score: SafeInteger = Field(
        description="The score, combined with the player's by the board's operator: a JSON "
        "integer within the bounds of its board (inclusive): the board definition's "
        "`score_min`/`score_max`, else the deployment's LEADERBOARD_SCORE_MIN/_MAX. The "
        "minimum and maximum shown are the contract's limits, ±(2**53 - 1)."
    )
    occurred_at: AwareDatetime | None = Field(
        None,
        description="ISO 8601 time with a time zone; the server's time when omitted.",
    )
    version: int = Field(SCHEMA_VERSION, description="Schema version; only 1 exists.")

    @field_validator("score")
    @classmethod
    def _within_board_bounds(cls, score: int, info: ValidationInfo) -> int:
        bounds_of = (info.context or {}).get(BOUNDS_CONTEXT)
        if not callable(bounds_of):
            raise TypeError(
                f"validate ScoreEventIn with context={{{BOUNDS_CONTEXT!r}: bounds by board}}"
            )
        board = info.data.get("leaderboard")
        if board is None:  # an invalid leaderboard id: its own error refuses the event
            return score
        bounds: ScoreBounds = bounds_of(board)
        try:
            bounds.check(score)
        except InvalidEventError as exc:
            raise PydanticCustomError(
                exc.reason,
                "{detail}",
                {
                    "detail": f"{exc.detail}, the bounds of leaderboard {board!r}",
                    "leaderboard": board,
                    "minimum": bounds.minimum,
                    "maximum": bounds.maximum,
                },
            ) from None
        return score

    @field_validator("display_name")
    @classmethod
    def _no_control_characters(cls, name: str | None) -> str | None:
        found = None if name is None else _CONTROL_CHARACTER.search(name)
        if found is not None:
            raise PydanticCustomError(
                "control_character",
                "a display name must not contain control characters: found U+{code} at "
                "position {position}",
                {"code": f"{ord(found.group()):04X}", "position": found.start()},
            )
        return name

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != SCHEMA_VERSION:
            raise PydanticCustomError(
                "unknown_version",
                "unsupported schema version {version}: this service accepts version "
                "{supported} (or omit the field)",
                {"version": version, "supported": SCHEMA_VERSION},
            )
        return version

    def to_score_event(self, now: datetime) -> ScoreEvent:
        """The contract event, filling in the id, time and version the caller left out."""
        return ScoreEvent(
            event_id=self.event_id or uuid.uuid4(),
            leaderboard=self.leaderboard,
            player_id=self.player_id,
            display_name=self.display_name,
            score=self.score,
            occurred_at=self.occurred_at or now,
            version=SCHEMA_VERSION,
        )


class Accepted(BaseModel):
    """The 202 answer: every event is stored on all in-sync Kafka replicas."""

    accepted: int = Field(description="Number of events accepted.")
    event_ids: list[uuid.UUID] = Field(
        description="The event ids, in the order the events were sent."
    )


class Unavailable(BaseModel):
    """The 503 answer: Kafka did not acknowledge every event in time."""

    detail: str
    event_ids: list[uuid.UUID] = Field(
        description="The ids the events were sent with: resend with these ids (some may "
        "already be stored; consumers drop the duplicates)."
    )


class Problem(BaseModel):
    """Any other error answer (401, 403, 404, 413, and the admin API's 503)."""

    detail: str


_BATCH = TypeAdapter(list[ScoreEventIn])


def _invalid(
    kind: str, message: str, loc: tuple[int | str, ...] = ("body",)
) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": None}])


def _body_errors(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(
        [
            {**error, "loc": ("body", *error["loc"])}
            for error in exc.errors(include_url=False, include_context=True)
        ]
    )


def parse_submission(
    body: bytes, *, bounds: BoardBounds, max_events: int, now: datetime
) -> list[ScoreEvent]:
    """The events of one request body, in order, each score within ``bounds(its board)``.

    Raises ``RequestValidationError`` (422) naming each problem, or ``HTTPException``
    413 when a batch holds more than ``max_events`` events.
    """
    if not body.strip():
        raise _invalid(
            "missing",
            "the body is empty: send one score event (a JSON object) or a batch "
            "(a JSON array of them)",
        )
    try:
        shape = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _invalid("json_invalid", f"the body is not valid JSON: {exc}") from None
    context = {BOUNDS_CONTEXT: bounds}
    try:
        if isinstance(shape, dict):
            inputs = [ScoreEventIn.model_validate_json(body, context=context)]
        elif isinstance(shape, list):
            if not shape:
                raise _invalid("too_short", "the batch is empty: send at least one event")
            if len(shape) > max_events:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    detail=f"the batch holds {len(shape)} events, over the limit of "
                    f"{max_events} events per request; split it into smaller batches",
                )
            inputs = _BATCH.validate_json(body, context=context)
        else:
            raise _invalid(
                "model_type",
                "the body must be one score event (a JSON object) or a batch "
                f"(a JSON array of them), not {type(shape).__name__}",
            )
    except ValidationError as exc:
        raise _body_errors(exc) from None
    _reject_repeated_ids(inputs, batch=isinstance(shape, list))
    return [item.to_score_event(now) for item in inputs]


def _reject_repeated_ids(inputs: list[ScoreEventIn], *, batch: bool) -> None:
    # Consumers keep only the first event of an id, so a repeat inside one batch would be
    # silently dropped downstream: say so now instead.
    first_seen: dict[uuid.UUID, int] = {}
    errors = []
    for index, item in enumerate(inputs):
        if item.event_id is None:
            continue
        if item.event_id in first_seen:
            errors.append(
                {
                    "type": "duplicate_event_id",
                    "loc": ("body", index, "event_id") if batch else ("body", "event_id"),
                    "msg": f"event_id {item.event_id} is already used by event "
                    f"{first_seen[item.event_id]} of this batch",
                    "input": str(item.event_id),
                }
            )
        else:
            first_seen[item.event_id] = index
    if errors:
        raise RequestValidationError(errors)


class BoardDeleted(BaseModel):
    """The answer to a delete: the definition that was removed and what happened to it."""

    id: str
    deleted: bool = Field(True, description="Always true: a delete of an unknown id is 404.")
    revision: int = Field(description="The revision the board had when it was deleted.")
    detail: str = Field(description="What the service did.")


#: Longest ``reason`` of an admin action (it is kept in the audit table).
REASON_MAX_CHARS = 500


class ResetRequest(BaseModel):
    """The optional body of ``POST /api/admin/leaderboards/{id}/reset``."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None,
        min_length=1,
        max_length=REASON_MAX_CHARS,
        description="Why the board is reset; kept in the audit table.",
    )


class BoardReset(BaseModel):
    """The answer to a reset: the board's new revision and what was cleared."""

    id: str
    revision: int = Field(description="The definition's new revision, carrying `reset_at`.")
    reset_at: datetime = Field(
        description="The reset time (UTC, the database's clock): events that occurred "
        "before it never count on this board again."
    )
    players_removed: int = Field(
        description="Standings removed from Redis, summed over the board's periods (a "
        "player ranked in two periods counts twice; 0 when the board was already empty)."
    )
    detail: str = Field(description="What the service did.")


class PlayerErased(BaseModel):
    """The answer to an erasure: what was erased where."""

    player_id: str
    player_hash: str = Field(
        description="SHA-256 of the id: what the suppression list, the erasures topic and "
        "the audit keep instead of the id."
    )
    erased_at: datetime = Field(description="When the player was first erased.")
    already_erased: bool = Field(description="True when a previous request erased it.")
    archived_events_deleted: int = Field(
        description="Archived score events deleted now (0 on a repeat)."
    )
    audit_rows_pseudonymised: int = Field(
        description="Earlier audit rows whose player id was replaced by the hash."
    )
    boards: list[str] = Field(description="Boards the player was removed from in Redis.")
    detail: str = Field(description="What the service did.")


class PlayerRemoved(BaseModel):
    """The answer to a moderation: whether the player had a standing, and which."""

    id: str = Field(description="The board.")
    player_id: str
    removed: bool = Field(
        description="True when a standing was removed, in any period of the board; false "
        "when the player had none (e.g. a repeated request). Audited either way."
    )
    score: int | None = Field(
        None,
        description="The removed score in the board's live period (the current one; "
        "before or after the board's window, its first or last), in the board's sign; "
        "null when the player had none there.",
    )
    reached_at: datetime | None = Field(
        None,
        description="When the player reached `score`, to the precision the stored score "
        'keeps (docs/architecture.md, "Ties").',
    )
    reason: str
    detail: str = Field(description="What the service did.")
