"""Direct fan-out: each client's newest snapshot written straight to its socket.

A slow client keeps only the newest snapshot (and ``player`` message) pending and never
delays the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from leaderboard.gateway.messages import PlayerUpdate, Update
from leaderboard.gateway.transport import Channel


class FanOutStats:
    """Writes and coalesced snapshots since the last flush into the metrics."""

    __slots__ = ("coalesced", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.coalesced = 0

    def take(self) -> tuple[int, int]:
        sent, coalesced = self.sent, self.coalesced
        self.sent = self.coalesced = 0
        return sent, coalesced


class DirectSubscriber:
    """One client of the direct path; ``start()`` once its ``hello`` was sent."""

    __slots__ = (
        "_channel",
        "_deferred",
        "_pending",
        "_pending_since",
        "_started",
        "_stats",
        "aborted",
        "active",
    )

    def __init__(
        self, channel: Channel, stats: FanOutStats, deferred: Callable[[Update], None]
    ) -> None:
        self._channel = channel
        self._stats = stats
        self._deferred = deferred  # records a snapshot written after a wait
        self._pending: Update | None = None
        self._pending_since = 0.0
        self._started = False
        #: Something was written since the last heartbeat round.
        self.active = False
        #: Disconnected for not reading (set by the sweeper).
        self.aborted = False

    @property
    def has_pending(self) -> bool:
        return self._pending is not None

    def offer(self, update: Update) -> None:
        if self._started and self._pending is None and self._channel.can_write():
            self._channel.write_frame(update.frame)
            self._stats.sent += 1
            self.active = True
            return
        if self._pending is not None:
            self._stats.coalesced += 1  # the client never sees the replaced snapshot
        else:
            self._pending_since = time.monotonic()
        self._pending = update

    def start(self) -> None:
        """Begin writing: flush what arrived during the handshake, follow the drains."""
        self._started = True
        self._channel.on_writable(self.flush)
        self.flush()

    def stop(self) -> None:
        self._channel.on_writable(None)
        self._pending = None

    def flush(self) -> None:
        """Write the pending snapshot if the socket can take it now."""
        update = self._pending
        if update is None or not self._started or not self._channel.can_write():
            return
        self._pending = None
        self._channel.write_frame(update.frame)
        self.active = True
        self._deferred(update)

    def stalled_for(self, now: float) -> float:
        """Seconds the pending snapshot has waited for the socket (0 when none waits)."""
        return now - self._pending_since if self._pending is not None else 0.0

    def heartbeat(self, frame: bytes) -> bool:
        """Write ``frame`` if nothing was written since the last round; True if written."""
        idle = self._started and not self.active and self._pending is None
        written = idle and self._channel.can_write()
        if written:
            self._channel.write_frame(frame)
        self.active = False
        return written

    def abort(self) -> None:
        self.aborted = True
        self._channel.abort()


class WatchingSubscriber(DirectSubscriber):
    """A direct client that also watches a player: its ``player`` messages wait in a slot
    of their own (latest wins), so a snapshot never replaces one, nor the reverse."""

    __slots__ = ("_player", "_player_sent", "_player_since")

    def __init__(
        self,
        channel: Channel,
        stats: FanOutStats,
        deferred: Callable[[Update], None],
        player_sent: Callable[[], None],
    ) -> None:
        super().__init__(channel, stats, deferred)
        self._player: PlayerUpdate | None = None
        self._player_since = 0.0
        self._player_sent = player_sent  # counts a ``player`` message written

    def offer_player(self, update: PlayerUpdate) -> None:
        """Write ``update`` now if the socket can take it, else keep it for ``flush``."""
        if self._player is None:
            self._player_since = time.monotonic()
        self._player = update
        self.flush()

    def flush(self) -> None:
        super().flush()
        update = self._player
        if update is None or not self._started or not self._channel.can_write():
            return
        self._player = None
        self._channel.write_frame(update.frame)
        self.active = True
        self._player_sent()

    def stop(self) -> None:
        super().stop()
        self._player = None

    def stalled_for(self, now: float) -> float:
        waited = now - self._player_since if self._player is not None else 0.0
        return max(super().stalled_for(now), waited)
