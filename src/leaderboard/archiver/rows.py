"""From consumed messages to ``score_events`` rows: decoding, mapping, rejections.

Pure logic: each message becomes one row or one ``Rejection`` with the contract's reason.
Every event the contract accepts is archived, whatever its board's bounds (the ranker's).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leaderboard.core.clients import ConsumedRecord
from leaderboard.core.database import NUL, NUL_REPLACEMENT
from leaderboard.core.events import InvalidEventError, ScoreEvent, decode_score_event
from leaderboard.core.logging import get_logger

log = get_logger(__name__)


#: A ``score_events`` row: each column's value.
Row = dict[str, uuid.UUID | str | int | datetime | None]


@dataclass(frozen=True)
class Rejection:
    """A message that is not a valid score event, and why."""

    topic: str
    partition: int
    offset: int
    reason: str
    detail: str


@dataclass
class DecodedBatch:
    """The rows to insert and the messages skipped, from one consumed batch."""

    rows: list[Row] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def rejected_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rejection in self.rejections:
            counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
        return counts


def event_row(event: ScoreEvent, partition: int, offset: int) -> Row:
    """The ``score_events`` row of ``event``, read at ``partition``/``offset``.

    ``archived_at`` is left to the column default (the inserting transaction's time).
    A NUL in the display name is replaced by U+FFFD, the one change made to a value:
    PostgreSQL refuses NUL in text, and a refused value would stall the whole partition.
    """
    display_name = event.display_name
    if display_name is not None and NUL in display_name:
        display_name = display_name.replace(NUL, NUL_REPLACEMENT)
    return {
        "event_id": event.event_id,
        "leaderboard": event.leaderboard,
        "player_id": event.player_id,
        "display_name": display_name,
        "score": event.score,
        "occurred_at": event.occurred_at,
        "version": event.version,
        "kafka_partition": partition,
        "kafka_offset": offset,
    }


def decode_batch(messages: Sequence[ConsumedRecord]) -> DecodedBatch:
    """Decode every message of a batch; log a warning for each one that is rejected.

    Scores are checked against the contract's limits only: a board's bounds change with
    its definition, and the archive is the record of every event accepted."""
    batch = DecodedBatch()
    for message in messages:
        partition, offset = message.partition(), message.offset()
        try:
            event = decode_score_event(message.value(), None)
        except InvalidEventError as error:
            rejection = Rejection(message.topic(), partition, offset, error.reason, error.detail)
            batch.rejections.append(rejection)
            log.warning(
                "skipping a message that is not a valid score event",
                topic=rejection.topic,
                partition=partition,
                offset=offset,
                reason=error.reason,
                detail=error.detail,
            )
            continue
        batch.rows.append(event_row(event, partition, offset))
    return batch
