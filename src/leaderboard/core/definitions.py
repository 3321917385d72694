"""Board definitions in memory: the fold of the compacted ``leaderboard-definitions`` topic.

``DefinitionFeed`` reads the whole topic on its own thread into a ``BoardRegistry``
(docs/architecture.md, "Board definitions"; the message format is in docs/events.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer
from pydantic import ValidationError

from leaderboard.core.boards import BoardDefinition, BoardView
from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.compacted import CompactedFeed, follow
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health

log = get_logger(__name__)

#: The readiness check the feed keeps up to date.
CHECK = "definitions"


def definition_key(board_id: str) -> bytes:
    """The Kafka key of a board's definitions (and of its tombstone)."""
    return board_id.encode()


class BoardRegistry:
    """The newest definition of every board, by revision; safe to use from any thread.

    A definition replaces the one held only with a higher revision, so redeliveries and
    out-of-order copies never roll a board back. A tombstone removes the board but keeps
    its revision as a floor, so a stale copy arriving after it cannot resurrect it; this
    relies on the admin side raising revisions across a delete and re-create.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[str, BoardDefinition] = {}
        self._deleted: dict[str, int] = {}

    def apply(
        self,
        key: bytes | None,
        value: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> bool:
        """Fold one message in; True when it changed what is held. An unusable message is
        logged with its coordinates and skipped."""
        where = {"topic": topic, "partition": partition, "offset": offset}
        try:
            board_id = key.decode() if key is not None else None
        except UnicodeDecodeError:
            board_id = None
        if not board_id:
            log.warning("skipping a board definition without a usable key", key=key, **where)
            return False
        if value is None:
            return self._delete(board_id)
        try:
            definition = BoardDefinition.from_json(value)
        except ValidationError as exc:
            log.warning(
                "skipping an invalid board definition",
                key=board_id,
                error=_describe(exc),
                **where,
            )
            return False
        if definition.id != board_id:
            log.warning(
                "skipping a board definition under another board's key",
                key=board_id,
                board=definition.id,
                **where,
            )
            return False
        return self._put(definition)

    def _put(self, definition: BoardDefinition) -> bool:
        with self._lock:
            held = self._boards.get(definition.id)
            floor = held.revision if held is not None else self._deleted.get(definition.id, 0)
            if definition.revision <= floor:
                return False
            self._boards[definition.id] = definition
            self._deleted.pop(definition.id, None)
            return True

    def _delete(self, board_id: str) -> bool:
        with self._lock:
            held = self._boards.pop(board_id, None)
            if held is None:
                return False
            self._deleted[board_id] = held.revision
            return True

    def get(self, board_id: str) -> BoardDefinition | None:
        with self._lock:
            return self._boards.get(board_id)

    def view(self, board_id: str) -> BoardView:
        """How ``board_id`` is ranked and shown (the defaults when it has no definition)."""
        return BoardView.of(board_id, self.get(board_id))

    def all(self) -> list[BoardDefinition]:
        """Every board held, sorted by id."""
        with self._lock:
            return [self._boards[board_id] for board_id in sorted(self._boards)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._boards)


def _describe(exc: ValidationError) -> str:
    """The first problems pydantic found, one line (``loc: msg``)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'value'}: {error['msg']}"
        for error in exc.errors()[:3]
    )


class DefinitionFeed(CompactedFeed):
    """Folds the definitions topic into ``registry`` (readiness check ``CHECK``)."""

    def __init__(
        self,
        settings: LeaderboardSettings,
        registry: BoardRegistry,
        health: Health,
        *,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        self.registry = registry
        super().__init__(
            settings,
            settings.topic_leaderboard_definitions,
            health,
            check=CHECK,
            what="board definitions",
            log=log,
            consumer_factory=consumer_factory,
        )

    def _fold(self, message: KafkaMessage) -> bool:
        return self.registry.apply(
            message.key(),
            message.value(),
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
        )

    def _held(self) -> int:
        return len(self.registry)


def follow_definitions(
    settings: LeaderboardSettings, health: Health, shutdown: Shutdown
) -> DefinitionFeed | None:
    """A started ``DefinitionFeed`` that has read every definition that existed, so that
    no event is scored by a default where a board is defined; None when a stop was asked
    first. The caller stops the feed."""
    feed = DefinitionFeed(settings, BoardRegistry(), health)
    return feed if follow(feed, shutdown) else None
