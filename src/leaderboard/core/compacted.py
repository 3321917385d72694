"""``CompactedFeed``: a ``TopicReader`` that folds a whole compacted topic into memory, says
when it has caught up with what existed at start, and ``follow`` waits for that.

The board definitions and the erased players are such feeds (docs/architecture.md).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer
from confluent_kafka import KafkaError as LibrdkafkaError

from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.errors import KafkaError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.probes import Health
from leaderboard.core.topic_reader import TopicReader, private_group_id

#: How often a waiting start checks for a stop request.
_WAIT_STEP_SECONDS = 0.5


class CompactedFeed(TopicReader):
    """A daemon thread that reads every partition of ``topic`` from the start, folding each
    record with ``_fold``, then keeps following it; reports to ``health`` (readiness check
    ``check`` and a liveness fault once the thread died)."""

    def __init__(
        self,
        settings: LeaderboardSettings,
        topic: str,
        health: Health,
        *,
        check: str,
        what: str,
        log: structlog.stdlib.BoundLogger,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        """``check`` names the readiness check and the threads; ``what`` (plural) words the
        log lines."""
        self._health = health
        self._check_name = check
        self._what = what
        #: Per partition still being read up to its start-time end: the last offset to read.
        self._behind: dict[int, int] = {}
        self._caught_up = threading.Event()
        self._settled = threading.Event()  # caught up, or the thread ended
        super().__init__(
            settings,
            topic,
            private_group_id(settings.service_name, check),
            {
                "auto.offset.reset": "earliest",
                # Says where the end is, even when compaction left no record right before it.
                "enable.partition.eof": True,
            },
            name=check,
            consumer_name=f"{what} consumer",
            failure=f"the {what} consumer failed",
            log=log,
            consumer_factory=consumer_factory,
        )
        self._report(False, "not started")
        health.watch(self.fault)

    @abstractmethod
    def _fold(self, message: KafkaMessage) -> bool:
        """Fold one record in; True when it changed what is held."""

    @abstractmethod
    def _held(self) -> int:
        """How many items are held (for the logs and readiness)."""

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
        self._log.info(f"reading {self._what}", topic=self.topic, up_to=behind)
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
            if self._fold(message):
                changed.append((message.key() or b"").decode(errors="replace"))
            self._reached(partition, offset)
        if changed and self._caught_up.is_set():
            self._log.info(f"{self._what} changed", topic=self.topic, keys=changed)

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
        self._log.info(f"{self._what} caught up", topic=self.topic, held=self._held())

    def _ready(self) -> tuple[bool, str]:
        if self._caught_up.is_set():
            return True, f"{self._held()} {self._what} from {self.topic!r}"
        return False, f"reading {self.topic!r} up to its end at start"

    def _report(self, ok: bool, detail: str) -> None:
        super()._report(ok, detail)
        self._health.set_check(self._check_name, ok, detail)


def follow(feed: CompactedFeed, shutdown: Shutdown) -> bool:
    """Start ``feed`` and wait until it has read everything that existed, so a service
    never works from a partial fold; False when a stop was asked first (the feed is then
    stopped). Raises KafkaError when the feed's thread died."""
    feed.start()
    while not feed.wait_caught_up(_WAIT_STEP_SECONDS):
        if not feed.alive:
            raise KafkaError(f"{feed.topic!r} could not be read", topic=feed.topic)
        if shutdown.requested:
            feed.stop(_WAIT_STEP_SECONDS)
            return False
    return True
