"""The period a live view of each board shows now: the publisher's snapshots and the
gateway's reads follow it (docs/services.md, "Publisher"; docs/api.md, "REST API").

Working out a period takes a cron walk (about 0.1 ms): each board's is kept until the
clock leaves it or its definition changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from leaderboard.core.boards import BoardDefinition
from leaderboard.core.definitions import BoardRegistry
from leaderboard.core.events import utc_now
from leaderboard.core.periods import ALL_TIME, Period, Schedule

#: The one period of a board without a schedule (or without a definition).
ALL_TIME_PERIOD: Final = Period(ALL_TIME, None, None)


@dataclass(frozen=True)
class _Held:
    """A board's live period, for the definition revision it was worked out from, and
    the moments it stays live (``live.contains(now)``)."""

    revision: int
    schedule: Schedule
    period: Period
    live: Period


class LivePeriods:
    """The live period of each board of ``registry`` at ``clock()``'s time (``clock`` is
    injected so tests can move it). Not thread-safe: each service uses one from one thread
    (the publisher's consumer loop, the gateway's event loop)."""

    def __init__(self, registry: BoardRegistry, clock: Callable[[], datetime] = utc_now) -> None:
        self._registry = registry
        self._clock = clock
        self._held: dict[str, _Held] = {}

    def now(self) -> datetime:
        return self._clock()

    def of(self, board_id: str) -> Period:
        """The period ``board_id``'s live view shows now."""
        return self.of_definition(board_id, self._registry.get(board_id))

    def of_definition(self, board_id: str, definition: BoardDefinition | None) -> Period:
        """The live period of ``board_id`` as ``definition`` (its registry's) has it."""
        if definition is None:
            self._held.pop(board_id, None)
            return ALL_TIME_PERIOD
        now = self._clock()
        held = self._held.get(board_id)
        if held is None or held.revision != definition.revision:
            held = _work_out(definition.revision, definition.schedule, now)
        elif held.live.contains(now):
            return held.period
        else:
            held = _work_out(held.revision, held.schedule, now)
        self._held[board_id] = held
        return held.period


def _work_out(revision: int, schedule: Schedule, now: datetime) -> _Held:
    period = schedule.live_period(now)
    # Before the window the first period is live from any earlier moment; after it the
    # last stays live for ever.
    before = schedule.starts_at is not None and now < schedule.starts_at
    after = schedule.ends_at is not None and now >= schedule.ends_at
    live = Period(period.id, None if before else period.start, None if after else period.end)
    return _Held(revision, schedule, period, live)
