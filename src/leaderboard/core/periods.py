"""Periods of a board that resets on a schedule: which period a moment falls in.

Schedule kinds, period ids, windows and time zone rules: docs/architecture.md, "Periods".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

#: The named schedules, as the cron expressions they stand for (in the board's zone).
NAMED_RESETS: Final[dict[str, str]] = {
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 1",  # Monday, as ISO weeks start
    "monthly": "0 0 1 * *",
}
#: The id of the one period of a board that never resets.
ALL_TIME: Final = "all"
DEFAULT_GRACE_SECONDS: Final = 300
#: Longest grace: Redis keeps every period still in grace.
MAX_GRACE_SECONDS: Final = 7 * 24 * 3600

PeriodState = Literal["open", "grace", "closed"]
#: The shape of every period id (the table in docs/architecture.md, "Periods"), for the
#: edges that take one: ``all``, a day, an ISO week, a month, a cron period's start in UTC.
PERIOD_ID: Final = (
    r"^(all|\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z)$"
)
PERIOD_ID_MAX_LENGTH: Final = 64


def check_reset(reset: str) -> str:
    """``reset`` if it is ``none``, a named schedule or a cron expression of five fields
    (minute granularity) that fires at least once; ValueError naming what is wrong."""
    if reset == "none" or reset in NAMED_RESETS:
        return reset
    fields = reset.split()
    if len(fields) != 5:
        raise ValueError(
            "should be none, daily, weekly, monthly or a cron expression of 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)} field(s)"
        )
    try:
        next(CronSim(reset, datetime(2000, 1, 1, tzinfo=UTC)))
    except (CronSimError, StopIteration) as error:
        raise ValueError(f"is not a valid cron expression: {error or 'never fires'}") from None
    return reset


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine (or the tzdata package) knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not an IANA time zone name, e.g. Europe/Berlin: {name!r}") from None
    return name


@dataclass(frozen=True)
class Period:
    """One period of a board: ``[start, end)`` in UTC, ``None`` where it is unbounded."""

    id: str
    start: datetime | None
    end: datetime | None

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or self.start <= moment) and (
            self.end is None or moment < self.end
        )

    def state(self, now: datetime, grace: timedelta) -> PeriodState:
        """``open`` until its end, ``grace`` for ``grace`` after it, then ``closed``."""
        if self.end is None or now < self.end:
            return "open"
        return "grace" if now < self.end + grace else "closed"


@dataclass(frozen=True)
class Schedule:
    """When a board's periods start and end: its ``reset`` in ``timezone``, within the
    optional window ``[starts_at, ends_at)``. Expressions are checked on construction."""

    reset: str = "none"
    timezone: str = "UTC"
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        check_reset(self.reset)
        check_timezone(self.timezone)
        starts, ends = self.starts_at, self.ends_at
        if starts is not None and ends is not None and starts >= ends:
            raise ValueError(f"starts_at {starts} is not before ends_at {ends}")

    @property
    def resets(self) -> bool:
        return self.reset != "none"

    @property
    def _cron(self) -> str:
        return NAMED_RESETS.get(self.reset, self.reset)

    @property
    def closes(self) -> bool:
        """Whether its periods end (and are closed): it resets, or its window ends."""
        return self.resets or self.ends_at is not None

    def live_period(self, now: datetime) -> Period:
        """The period a live view shows at ``now``: the one ``now`` falls in; before the
        window, its first period; after it, its last."""
        found = self.period_at(now)
        if found is None:
            edge = self.starts_at if self.starts_at is not None and now < self.starts_at else None
            if edge is None:
                assert self.ends_at is not None  # outside a window that has an end
                edge = self.ends_at - timedelta(microseconds=1)
            found = self.period_at(edge)
            assert found is not None
        return found

    def in_window(self, moment: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= moment) and (
            self.ends_at is None or moment < self.ends_at
        )

    def period_at(self, moment: datetime) -> Period | None:
        """The period ``moment`` falls in; None outside the window."""
        if not self.in_window(moment):
            return None
        if not self.resets:
            return Period(ALL_TIME, self.starts_at, self.ends_at)
        local = moment.astimezone(ZoneInfo(self.timezone))
        # Reversing from a time with microseconds starts at its whole second, included:
        # the last firing at or before ``moment``.
        start = next(CronSim(self._cron, local.replace(microsecond=1), reverse=True))
        end = next(CronSim(self._cron, start))
        # cronsim reads wall times, taking a repeated hour's first pass: a moment in the
        # second pass before a firing at that wall time lands one period early.
        while end <= moment:
            start, end = end, next(CronSim(self._cron, end))
        return self._period(start, end)

    def period_named(self, period_id: str) -> Period | None:
        """The period whose id is ``period_id``; None if this schedule has no such period
        (another kind's id, a date that does not exist, outside the window)."""
        if not self.resets:
            return Period(ALL_TIME, self.starts_at, self.ends_at) if period_id == ALL_TIME else None
        moment = _inside(_moment_named(period_id, ZoneInfo(self.timezone)), self)
        found = None if moment is None else self.period_at(moment)
        return found if found is not None and found.id == period_id else None

    def period_before(self, period: Period) -> Period | None:
        """The period that ends where ``period`` starts; None before the window's start."""
        if period.start is None:
            return None
        return self.period_at(period.start - timedelta(microseconds=1))

    def period_after(self, period: Period) -> Period | None:
        """The period that starts where ``period`` ends; None after the window's end."""
        return None if period.end is None else self.period_at(period.end)

    def _period(self, start: datetime, end: datetime) -> Period:
        # The id names the calendar period (or, for cron, its start in UTC, which unlike
        # the local time is unique when clocks go back); the bounds are cut to the window.
        if self.reset == "daily":
            name = start.strftime("%Y-%m-%d")
        elif self.reset == "weekly":
            year, week, _ = start.isocalendar()
            name = f"{year}-W{week:02d}"
        elif self.reset == "monthly":
            name = start.strftime("%Y-%m")
        else:
            name = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if self.starts_at is not None:
            start_utc = max(start_utc, self.starts_at.astimezone(UTC))
        if self.ends_at is not None:
            end_utc = min(end_utc, self.ends_at.astimezone(UTC))
        return Period(name, start_utc, end_utc)


def _moment_named(period_id: str, zone: ZoneInfo) -> datetime | None:
    """A moment inside the period an id names, whatever the kind of its schedule: local
    noon of its first day (clear of midnight and of any daylight saving change), or a
    cron period's start."""
    try:
        if period_id.endswith("Z"):
            return datetime.strptime(period_id, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        if "-W" in period_id:
            year, week = period_id.split("-W")
            day = date.fromisocalendar(int(year), int(week), 1)
        elif len(period_id) == len("2026-12"):
            day = datetime.strptime(period_id, "%Y-%m").date()
        else:
            day = datetime.strptime(period_id, "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day, time(12), zone)


def _inside(moment: datetime | None, schedule: Schedule) -> datetime | None:
    """``moment`` moved into the schedule's window: a period cut by it starts or ends there."""
    if moment is None:
        return None
    if schedule.starts_at is not None and moment < schedule.starts_at:
        return schedule.starts_at
    if schedule.ends_at is not None and moment >= schedule.ends_at:
        return schedule.ends_at - timedelta(microseconds=1)
    return moment
