"""Board definitions in memory: the fold of the compacted ``leaderboard-definitions`` topic.

``DefinitionFeed`` reads the whole topic on its own thread into a ``BoardRegistry``
(docs/architecture.md, "Board definitions"; the message format is in docs/events.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer
from confluent_kafka import KafkaError as LibrdkafkaError
from pydantic import ValidationError

from leaderboard.core.boards import BoardDefinition, BoardView
from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.errors import KafkaError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health
from leaderboard.core.topic_reader import TopicReader, private_group_id

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


class DefinitionFeed(TopicReader):
    """A daemon thread that reads every partition of the definitions topic from the start
    into ``registry``, then keeps following it; reports to ``health`` (check ``CHECK`` and
    a liveness fault once the thread died)."""

    def __init__(
        self,
        settings: LeaderboardSettings,
        registry: BoardRegistry,
        health: Health,
        *,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        self.registry = registry
        self._health = health
        #: Per partition still being read up to its start-time end: the last offset to read.
        self._behind: dict[int, int] = {}
        self._caught_up = threading.Event()
        self._settled = threading.Event()  # caught up, or the thread ended
        super().__init__(
            settings,
            settings.topic_leaderboard_definitions,
            private_group_id(settings.service_name, "definitions"),
            {
                "auto.offset.reset": "earliest",
                # Says where the end is, even when compaction left no record right before it.
                "enable.partition.eof": True,
            },
            name="definitions",
            consumer_name="definitions consumer",
            failure="the board definitions consumer failed",
            log=log,
            consumer_factory=consumer_factory,
        )
        self._report(False, "not started")
        health.watch(self.fault)

    def wait_caught_up(self, timeout: float) -> bool:
        """True once every message that existed at start has been folded in."""
        self._settled.wait(timeout)
        return self._caught_up.is_set()

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    # -- the reader's parts --------------------------------------------------------------

    def _start_offset(self, low: int, high: int) -> int:
        return OFFSET_BEGINNING

    def _on_assigned(self, watermarks: dict[int, tuple[int, int]]) -> None:
        behind = {p: high - 1 for p, (low, high) in watermarks.items() if high > low}
        self._behind = behind
        log.info("reading board definitions", topic=self.topic, up_to=behind)
        if not behind:
            self._mark_caught_up()

    def _ended(self) -> None:
        self._settled.set()

    def _handle(self, messages: list[KafkaMessage]) -> None:
        changed = []
        for message in messages:
            partition, offset = message.partition(), message.offset()
            error = message.error()
            if error is not None:
                if error.code() == LibrdkafkaError._PARTITION_EOF:
                    self._reached(partition, None)
                else:
                    self._warn_consume_error(message, error)
                continue
            if self.registry.apply(
                message.key(),
                message.value(),
                topic=message.topic(),
                partition=partition,
                offset=offset,
            ):
                changed.append((message.key() or b"").decode(errors="replace"))
            self._reached(partition, offset)
        if changed and self._caught_up.is_set():
            log.info("board definitions changed", topic=self.topic, keys=changed)

    def _reached(self, partition: int | None, offset: int | None) -> None:
        """Note progress on ``partition`` (``offset`` None: its end)."""
        if not self._behind or partition not in self._behind:
            return
        if offset is None or offset >= self._behind[partition]:
            del self._behind[partition]
            if not self._behind:
                self._mark_caught_up()

    def _mark_caught_up(self) -> None:
        self._caught_up.set()
        self._settled.set()
        self._report(*self._ready())
        log.info("board definitions caught up", topic=self.topic, boards=len(self.registry))

    def _ready(self) -> tuple[bool, str]:
        if self._caught_up.is_set():
            return True, f"{len(self.registry)} board definition(s) from {self.topic!r}"
        return False, f"reading {self.topic!r} up to its end at start"

    def _report(self, ok: bool, detail: str) -> None:
        super()._report(ok, detail)
        self._health.set_check(CHECK, ok, detail)


#: How often a waiting start checks for a stop request.
_WAIT_STEP_SECONDS = 0.5


def follow_definitions(
    settings: LeaderboardSettings, health: Health, shutdown: Shutdown
) -> DefinitionFeed | None:
    """Start a ``DefinitionFeed`` and wait until it has read every definition that existed,
    so that no event is scored by a default where a board is defined; None when a stop was
    asked first. The caller stops the feed."""
    feed = DefinitionFeed(settings, BoardRegistry(), health)
    feed.start()
    while not feed.wait_caught_up(_WAIT_STEP_SECONDS):
        if not feed.alive:
            topic = settings.topic_leaderboard_definitions
            raise KafkaError("the board definitions could not be read", topic=topic)
        if shutdown.requested:
            feed.stop(_WAIT_STEP_SECONDS)
            return None
    return feed
