"""Live own rank: connections watching one player, and the ``player`` messages they get.

Change notices mark boards; one task per board re-reads its watched players at most every
``INTERVAL_SECONDS`` and hands each watcher what changed for it (docs/api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from leaderboard.core.events import SnapshotEntry
from leaderboard.core.logging import get_logger
from leaderboard.gateway.messages import PlayerUpdate
from leaderboard.gateway.rankings import Neighbourhood

log = get_logger(__name__)

#: Least time between two reads of one board's watched players, and between two
#: ``player`` messages to one connection: a burst of scores is coalesced into one.
INTERVAL_SECONDS = 0.25
#: Wait after a failed read (Redis away) before the board is read again.
RETRY_SECONDS = 1.0

#: Reads the neighbourhoods of a board's players: (board, player id -> radius) -> found.
Reader = Callable[[str, dict[str, int]], Awaitable[dict[str, Neighbourhood]]]


@dataclass(eq=False)
class Watcher:
    """One connection watching one player of one board.

    ``send`` hands a message to the connection without blocking (latest wins there).
    """

    board: str
    player_id: str
    radius: int
    send: Callable[[PlayerUpdate], None]
    #: What the last message sent showed (None: nothing sent yet).
    shown: tuple[SnapshotEntry, ...] | None = None
    sent_at: float = -math.inf


@dataclass(eq=False)
class BoardWatchers:
    """The watchers of one board and whether it must be read again (no I/O)."""

    interval: float = INTERVAL_SECONDS
    watchers: set[Watcher] = field(default_factory=set)
    #: Watchers that have not had their first message yet.
    fresh: set[Watcher] = field(default_factory=set)
    #: A change (or a message held back) since the last read of every watcher began.
    dirty: bool = False
    last_read: float = -math.inf

    def radii(self, watchers: Iterable[Watcher]) -> dict[str, int]:
        """What to read for ``watchers``: each player once, with its largest radius."""
        radii: dict[str, int] = {}
        for watcher in watchers:
            radii[watcher.player_id] = max(radii.get(watcher.player_id, 0), watcher.radius)
        return radii

    def wait(self, now: float) -> float:
        """Seconds until a change may be read (0: now)."""
        return max(self.last_read + self.interval - now, 0.0)

    def deliver(
        self,
        board: str,
        watchers: Iterable[Watcher],
        found: dict[str, Neighbourhood],
        now: float,
    ) -> list[tuple[Watcher, PlayerUpdate]]:
        """The messages to send now: to each of ``watchers`` still watching whose view
        differs from its last message. One that got a message less than an interval ago
        is skipped and the board marked dirty, so a later read brings it up to date."""
        built: dict[tuple[str, int], PlayerUpdate] = {}
        out: list[tuple[Watcher, PlayerUpdate]] = []
        for watcher in watchers:
            hood = found.get(watcher.player_id)
            if hood is None or watcher not in self.watchers:
                continue  # left while the read ran
            mine = hood.within(watcher.radius)
            if watcher.shown is not None and watcher.shown == tuple(mine.entries):
                continue
            if now - watcher.sent_at < self.interval:
                self.dirty = True
                continue
            key = (watcher.player_id, watcher.radius)
            update = built.get(key)
            if update is None:
                update = built[key] = PlayerUpdate.of(
                    board, watcher.player_id, mine.rank, mine.entries, mine.total
                )
            watcher.shown = update.shown
            watcher.sent_at = now
            out.append((watcher, update))
        return out


class PlayerWatch:
    """Every watcher of this process, by board, and the task reading each watched board."""

    def __init__(
        self,
        read: Reader,
        *,
        on_watchers: Callable[[int], None] = lambda count: None,
        interval: float = INTERVAL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_watchers`` is told the number of watchers after each change (a gauge)."""
        self._read = read
        self._on_watchers = on_watchers
        self._interval = interval
        self._retry = retry_seconds
        self._clock = clock
        self._boards: dict[str, BoardWatchers] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def add(self, watcher: Watcher) -> None:
        """Start watching: the first message follows as soon as the player is read."""
        state = self._boards.get(watcher.board)
        if state is None:
            state = self._boards[watcher.board] = BoardWatchers(self._interval)
        state.watchers.add(watcher)
        state.fresh.add(watcher)
        self._count += 1
        self._on_watchers(self._count)
        self._kick(watcher.board)

    def remove(self, watcher: Watcher) -> None:
        state = self._boards.get(watcher.board)
        if state is None or watcher not in state.watchers:
            return
        state.watchers.discard(watcher)
        state.fresh.discard(watcher)
        self._count -= 1
        self._on_watchers(self._count)
        if not state.watchers:
            del self._boards[watcher.board]

    def changed(self, boards: Iterable[str]) -> None:
        """Boards whose standings changed (a change notice): re-read those watched."""
        for board in boards:
            state = self._boards.get(board)
            if state is not None:
                state.dirty = True
                self._kick(board)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _kick(self, board: str) -> None:
        wake = self._wake.get(board)
        if wake is not None:
            wake.set()
        if board not in self._tasks:
            self._wake[board] = asyncio.Event()
            self._tasks[board] = asyncio.create_task(self._work(board), name=f"watch-{board}")

    async def _work(self, board: str) -> None:
        """Read the board's watched players until nothing is left to read, then end."""
        wake = self._wake[board]
        failing = False
        try:
            while (state := self._boards.get(board)) is not None:
                now = self._clock()
                if state.dirty and state.wait(now) == 0:
                    state.dirty = False
                    state.last_read = now
                    state.fresh.clear()
                    batch = list(state.watchers)
                elif state.fresh:
                    # New watchers are read at once: their first message is not paced.
                    batch = list(state.fresh)
                    state.fresh.clear()
                elif state.dirty:
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(state.wait(now)):
                            await wake.wait()  # cut short by a new watcher
                    continue
                else:
                    return
                try:
                    found = await self._read(board, state.radii(batch))
                except Exception as exc:
                    if not failing:
                        if isinstance(exc, RedisError | OSError):
                            log.warning(
                                "cannot read watched players; retrying",
                                board=board,
                                error=str(exc),
                            )
                        else:  # a bug: loud, but the snapshots keep flowing
                            log.exception("reading watched players failed", board=board)
                    failing = True
                    state.fresh.update(w for w in batch if w.shown is None and w in state.watchers)
                    state.dirty = True
                    await asyncio.sleep(self._retry)
                    continue
                failing = False
                for watcher, update in state.deliver(board, batch, found, self._clock()):
                    watcher.send(update)
        finally:
            # No await between the loop's last check and here: a kick after it starts anew.
            del self._tasks[board]
            del self._wake[board]
