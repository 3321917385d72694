"""Fan-out: the latest snapshot of every leaderboard and the clients watching each.

Event-loop only (no locks), except ``Handoff``, the bridge from the consumer thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Protocol

from leaderboard.gateway.messages import PlayerUpdate, Update
from leaderboard.gateway.metrics import GatewayMetrics


class Subscriber(Protocol):
    """What the hub hands updates to; ``offer`` must not block."""

    @property
    def has_pending(self) -> bool: ...

    def offer(self, update: Update) -> None: ...


class Mailbox:
    """A bounded, latest-wins buffer of one client: at most one pending update."""

    __slots__ = ("_on_coalesce", "_pending", "_ready")

    def __init__(self, on_coalesce: Callable[[], None] = lambda: None) -> None:
        self._pending: Update | None = None
        self._ready = asyncio.Event()
        self._on_coalesce = on_coalesce

    @property
    def has_pending(self) -> bool:
        return self._pending is not None

    def offer(self, update: Update) -> None:
        if self._pending is not None:
            self._on_coalesce()  # the client never sees the replaced snapshot
        self._pending = update
        self._ready.set()

    async def take(self, timeout: float) -> Update | None:
        """The pending update, waiting up to ``timeout`` seconds for one (None if none came)."""
        if self._pending is None:
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None
        update, self._pending = self._pending, None
        self._ready.clear()
        return update


class WatchingMailbox(Mailbox):
    """A mailbox that also holds the newest ``player`` message, in a slot of its own."""

    __slots__ = ("_player",)

    def __init__(self, on_coalesce: Callable[[], None] = lambda: None) -> None:
        super().__init__(on_coalesce)
        self._player: PlayerUpdate | None = None

    def offer_player(self, update: PlayerUpdate) -> None:
        self._player = update
        self._ready.set()

    async def take_any(self, timeout: float) -> Update | PlayerUpdate | None:
        """The pending snapshot, else the pending ``player`` message, waiting up to
        ``timeout`` seconds for either (None if none came)."""
        if self._pending is None and self._player is None:
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None
        if self._pending is not None:
            update, self._pending = self._pending, None
            if self._player is None:
                self._ready.clear()
            return update
        player, self._player = self._player, None
        self._ready.clear()
        return player


class Hub:
    """Latest snapshot per leaderboard, and the subscribers of each leaderboard."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        #: Called after each fan-out (the live service adds up its writes there).
        self.after_fan_out: Callable[[Update], None] = lambda update: None
        #: Called with a board whose snapshot is of another period than the one held
        #: (its watched players are read again).
        self.on_new_period: Callable[[str], None] = lambda leaderboard: None
        self._latest: dict[str, Update] = {}
        self._subscribers: defaultdict[str, set[Subscriber]] = defaultdict(set)
        self._applied = metrics.snapshots_received.labels(outcome="applied")
        self._stale = metrics.snapshots_received.labels(outcome="stale")

    def latest(self, leaderboard: str) -> Update | None:
        return self._latest.get(leaderboard)

    def leaderboards(self) -> list[str]:
        return sorted(self._latest)

    def subscriber_count(self, leaderboard: str | None = None) -> int:
        if leaderboard is not None:
            return len(self._subscribers.get(leaderboard, ()))
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    def subscribe(self, leaderboard: str, subscriber: Subscriber) -> None:
        self._subscribers[leaderboard].add(subscriber)

    def unsubscribe(self, leaderboard: str, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(leaderboard)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._subscribers[leaderboard]

    def offer(self, update: Update) -> bool:
        """Keep ``update`` and fan it out if it is newer than what is held; True if so."""
        current = self._latest.get(update.leaderboard)
        if current is not None and not update.supersedes(current):
            self._stale.inc()
            return False
        self._latest[update.leaderboard] = update
        self._applied.inc()
        self._metrics.leaderboards.set(len(self._latest))
        for subscriber in self._subscribers.get(update.leaderboard, ()):
            subscriber.offer(update)
        self.after_fan_out(update)
        if current is not None and current.snapshot.period != update.snapshot.period:
            self.on_new_period(update.leaderboard)
        return True

    def offer_all(self, updates: Iterable[Update]) -> int:
        """Offer a batch (from the consumer thread); returns how many were applied."""
        return sum(1 for update in updates if self.offer(update))


class Handoff:
    """Thread-safe, latest-wins hand-over of updates from the consumer thread to the loop.

    ``put`` (any thread) keeps the newest update of each leaderboard and schedules one
    drain on the loop; the drain offers what is held to the hub. While the loop is busy,
    newer updates replace the held ones: they are counted as superseded, never queued.
    """

    def __init__(
        self,
        schedule: Callable[[Callable[[], None]], None],
        hub: Hub,
        metrics: GatewayMetrics,
    ) -> None:
        self._schedule = schedule  # loop.call_soon_threadsafe
        self._hub = hub
        self._superseded = metrics.snapshots_received.labels(outcome="superseded")
        self._lock = threading.Lock()
        self._held: dict[str, Update] = {}
        self._scheduled = False

    def put(self, updates: Iterable[Update]) -> None:
        with self._lock:
            for update in updates:
                held = self._held.get(update.leaderboard)
                if held is not None:
                    if not update.supersedes(held):
                        continue
                    self._superseded.inc()
                self._held[update.leaderboard] = update
            if self._scheduled or not self._held:
                return
            self._scheduled = True
        self._schedule(self._drain)

    def _drain(self) -> None:
        with self._lock:
            updates = list(self._held.values())
            self._held.clear()
            self._scheduled = False
        self._hub.offer_all(updates)
