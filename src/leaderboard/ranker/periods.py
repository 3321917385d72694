"""Which period of its board each event counts in, found once per period, not per event.

Periods and their closing: docs/architecture.md, "Periods".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leaderboard.core.periods import Period, Schedule

#: Periods a finder remembers: the current one and those still in grace (a per-minute
#: board has six in a 300 s grace), with room.
RECENT_PERIODS = 8


@dataclass
class PeriodFinder:
    """``Schedule.period_at`` with the last periods found kept: a cron lookup costs about
    100 µs, a containment test well under one."""

    schedule: Schedule
    grace: timedelta
    _recent: list[Period] = field(default_factory=list)

    def period_at(self, moment: datetime) -> Period | None:
        for period in self._recent:
            if period.contains(moment):
                return period
        found = self.schedule.period_at(moment)
        if found is not None:
            self._recent.insert(0, found)
            del self._recent[RECENT_PERIODS:]
        return found
