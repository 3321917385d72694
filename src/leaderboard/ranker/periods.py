"""Which period of its board each event counts in, found once per period, not per event.

Periods and their closing: docs/architecture.md, "Periods".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from leaderboard.core.periods import Period, Schedule
from leaderboard.core.standings import epoch_micros

#: Periods a finder remembers: the current one and those still in grace (a per-minute
#: board has six in a 300 s grace), with room.
RECENT_PERIODS: Final = 8
#: Beyond any bound, in microseconds or milliseconds since 1970.
_NEVER: Final = 2**63


@dataclass
class PeriodFinder:
    """``Schedule.period_at`` with the last periods found kept as integer bounds: a cron
    lookup costs about 100 µs, and comparing aware datetimes of two time zones calls
    their ``utcoffset()``; two integer comparisons cost neither."""

    schedule: Schedule
    grace: timedelta
    closes: bool = field(init=False)
    # (start µs, end µs, the period, the first arrival in ms that is past its grace)
    _recent: list[tuple[int, int, Period, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.closes = self.schedule.closes

    def find(self, moment: datetime) -> tuple[Period, int] | None:
        """The period ``moment`` falls in and when (ms since 1970) its grace ends; None
        outside the window."""
        micros = epoch_micros(moment)
        for start, end, period, grace_ends in self._recent:
            if start <= micros < end:
                return period, grace_ends
        found = self.schedule.period_at(moment)
        if found is None:
            return None
        grace_ends = (
            _NEVER
            if found.end is None or not self.closes
            else epoch_micros(found.end + self.grace) // 1000
        )
        self._recent.insert(
            0,
            (
                -_NEVER if found.start is None else epoch_micros(found.start),
                _NEVER if found.end is None else epoch_micros(found.end),
                found,
                grace_ends,
            ),
        )
        del self._recent[RECENT_PERIODS:]
        return found, grace_ends
