"""A board that resets every minute, for tests that watch a live rollover on the stack:
its schedule and a minute with enough of it left for a test's checks."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final

from leaderboard.core.periods import Period, Schedule

EVERY_MINUTE: Final = "* * * * *"
MINUTELY: Final = Schedule(EVERY_MINUTE)


def minute_with_room(seconds: float) -> Period:
    """The minute now is in, once at least ``seconds`` of it are left, so that the checks
    that follow all fall in it (waits for the next minute when fewer are left)."""
    now = datetime.now(UTC)
    minute = MINUTELY.live_period(now)
    assert minute.end is not None
    left = (minute.end - now).total_seconds()
    if left < seconds:
        time.sleep(left + 0.05)  # a wall-clock boundary, not a guess
        minute = MINUTELY.live_period(datetime.now(UTC))
    return minute


def iso(moment: datetime | None) -> str | None:
    """A UTC time as the services' JSON writes it (``...Z``)."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
