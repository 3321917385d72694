from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest

from leaderboard.core.periods import (
    ALL_TIME,
    PERIOD_ID,
    Period,
    Schedule,
    check_reset,
    check_timezone,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def period(schedule: Schedule, moment: datetime) -> Period:
    found = schedule.period_at(moment)
    assert found is not None
    return found


BERLIN_DAILY = Schedule("daily", "Europe/Berlin")


def test_a_daily_period_is_the_local_calendar_day() -> None:
    # 23:59:59 in Berlin (UTC+1) is still the 2nd; a second later is the 3rd.
    assert period(BERLIN_DAILY, utc(2026, 12, 2, 22, 59, 59)) == Period(
        "2026-12-02", utc(2026, 12, 1, 23), utc(2026, 12, 2, 23)
    )
    assert period(BERLIN_DAILY, utc(2026, 12, 2, 23)).id == "2026-12-03"


def test_a_moment_on_a_boundary_belongs_to_the_period_it_starts() -> None:
    boundary = utc(2026, 12, 2, 23)
    assert period(BERLIN_DAILY, boundary).start == boundary
    assert period(BERLIN_DAILY, boundary - timedelta(microseconds=1)).end == boundary


@pytest.mark.parametrize(
    ("moment", "day", "hours"),
    [
        (utc(2026, 3, 29, 12), "2026-03-29", 23),  # clocks go forward at 02:00
        (utc(2026, 10, 25, 12), "2026-10-25", 25),  # clocks go back at 03:00
        (utc(2026, 10, 26, 12), "2026-10-26", 24),
    ],
)
def test_a_daily_period_follows_daylight_saving(moment: datetime, day: str, hours: int) -> None:
    found = period(BERLIN_DAILY, moment)
    assert found.id == day
    assert found.start is not None
    assert found.end is not None
    assert found.end - found.start == timedelta(hours=hours)


def test_a_weekly_period_starts_on_monday_at_local_midnight_across_a_dst_change() -> None:
    weekly = Schedule("weekly", "Europe/Berlin")
    # Monday 2026-03-23 00:00 CET to Monday 2026-03-30 00:00 CEST.
    assert period(weekly, utc(2026, 3, 29, 12)) == Period(
        "2026-W13", utc(2026, 3, 22, 23), utc(2026, 3, 29, 22)
    )
    assert period(weekly, utc(2026, 12, 2, 12)).id == "2026-W49"


def test_a_weekly_id_is_the_iso_week_also_across_the_new_year() -> None:
    weekly = Schedule("weekly", "UTC")
    # 2026 has 53 ISO weeks: Friday 2027-01-01 is in the last of them.
    assert period(weekly, utc(2027, 1, 1, 12)) == Period(
        "2026-W53", utc(2026, 12, 28), utc(2027, 1, 4)
    )
    assert period(weekly, utc(2027, 1, 4)).id == "2027-W01"


@pytest.mark.parametrize(
    ("moment", "month", "start", "end"),
    [
        (utc(2026, 1, 31, 23, 59, 59), "2026-01", utc(2026, 1, 1), utc(2026, 2, 1)),
        (utc(2026, 2, 28, 12), "2026-02", utc(2026, 2, 1), utc(2026, 3, 1)),
        (utc(2028, 2, 29, 12), "2028-02", utc(2028, 2, 1), utc(2028, 3, 1)),  # leap year
        (utc(2026, 12, 31, 23, 59), "2026-12", utc(2026, 12, 1), utc(2027, 1, 1)),
    ],
)
def test_a_monthly_period_ends_with_its_month(
    moment: datetime, month: str, start: datetime, end: datetime
) -> None:
    assert period(Schedule("monthly", "UTC"), moment) == Period(month, start, end)


def test_a_monthly_period_in_a_zone_east_of_utc_starts_the_evening_before() -> None:
    tokyo = Schedule("monthly", "Asia/Tokyo")  # UTC+9, no daylight saving
    assert period(tokyo, utc(2026, 11, 30, 15)) == Period(
        "2026-12", utc(2026, 11, 30, 15), utc(2026, 12, 31, 15)
    )


def test_the_leap_day_is_a_daily_period_of_its_own() -> None:
    daily = Schedule("daily", "UTC")
    assert period(daily, utc(2028, 2, 29, 7)) == Period(
        "2028-02-29", utc(2028, 2, 29), utc(2028, 3, 1)
    )


def test_a_cron_period_runs_from_one_firing_to_the_next_and_is_named_in_utc() -> None:
    minutely = Schedule("* * * * *", "Europe/Berlin")
    moment = datetime(2026, 12, 2, 10, 5, 30, 500_000, tzinfo=UTC)
    assert period(minutely, moment) == Period(
        "2026-12-02T10:05Z", utc(2026, 12, 2, 10, 5), utc(2026, 12, 2, 10, 6)
    )


def test_cron_periods_keep_distinct_ids_when_the_clocks_go_back() -> None:
    hourly = Schedule("30 * * * *", "Europe/Berlin")
    # 02:30 happens twice on 2026-10-25: at 00:30 and at 01:30 UTC.
    first, second = period(hourly, utc(2026, 10, 25, 1)), period(hourly, utc(2026, 10, 25, 2))
    assert (first.id, second.id) == ("2026-10-25T00:30Z", "2026-10-25T01:30Z")
    assert first.end == second.start == utc(2026, 10, 25, 1, 30)


def test_a_cron_firing_in_the_skipped_hour_happens_when_the_clocks_have_gone_forward() -> None:
    nightly = Schedule("30 2 * * *", "Europe/Berlin")
    # There is no 02:30 on 2026-03-29: the period starts at 03:00 CEST (01:00 UTC).
    found = period(nightly, utc(2026, 3, 29, 12))
    assert found.start == utc(2026, 3, 29, 1)
    assert found.end == utc(2026, 3, 30, 0, 30)


def test_a_window_cuts_the_first_and_last_periods_and_nothing_lies_outside_it() -> None:
    season = Schedule("daily", "UTC", starts_at=utc(2026, 12, 1, 12), ends_at=utc(2026, 12, 3, 18))
    first, last = period(season, utc(2026, 12, 1, 12)), period(season, utc(2026, 12, 3, 1))
    assert first == Period("2026-12-01", utc(2026, 12, 1, 12), utc(2026, 12, 2))
    assert last == Period("2026-12-03", utc(2026, 12, 3), utc(2026, 12, 3, 18))
    assert season.period_at(utc(2026, 12, 1, 11, 59)) is None
    assert season.period_at(utc(2026, 12, 3, 18)) is None
    assert season.period_before(first) is None
    assert season.period_after(last) is None
    assert season.period_after(first) == period(season, utc(2026, 12, 2, 5))


def test_a_board_that_never_resets_has_one_period_the_window() -> None:
    assert period(Schedule(), utc(1999, 1, 1)) == Period(ALL_TIME, None, None)
    tournament = Schedule(starts_at=utc(2026, 12, 5), ends_at=utc(2026, 12, 7))
    assert period(tournament, utc(2026, 12, 6)) == Period(
        ALL_TIME, utc(2026, 12, 5), utc(2026, 12, 7)
    )
    assert tournament.period_at(utc(2026, 12, 7)) is None


def test_a_period_is_open_then_in_grace_then_closed() -> None:
    day = period(Schedule("daily", "UTC"), utc(2026, 12, 2, 12))
    grace = timedelta(seconds=300)
    assert day.state(utc(2026, 12, 2, 23, 59), grace) == "open"
    assert day.state(utc(2026, 12, 3), grace) == "grace"
    assert day.state(utc(2026, 12, 3, 0, 4, 59), grace) == "grace"
    assert day.state(utc(2026, 12, 3, 0, 5), grace) == "closed"
    assert day.state(utc(2026, 12, 3), timedelta(0)) == "closed"
    assert Period(ALL_TIME, None, None).state(utc(2999, 1, 1), grace) == "open"


@pytest.mark.parametrize(
    "schedule",
    [
        BERLIN_DAILY,
        Schedule("weekly", "America/New_York"),
        Schedule("monthly", "Australia/Lord_Howe"),  # a half-hour daylight saving shift
        Schedule("*/7 * * * *", "Europe/Berlin"),
        Schedule("0 */5 * * *", "America/Santiago"),
    ],
)
def test_periods_tile_time_without_gaps_or_overlaps(schedule: Schedule) -> None:
    rng = random.Random(7)
    for _ in range(200):
        moment = utc(2026, 1, 1) + timedelta(seconds=rng.randrange(2 * 366 * 86400))
        found = period(schedule, moment)
        assert found.contains(moment)
        after = schedule.period_after(found)
        assert after is not None
        assert (after.start, after.id != found.id) == (found.end, True)
        assert schedule.period_before(after) == found


@pytest.mark.parametrize(
    ("reset", "message"),
    [
        ("* * * * * *", "5 fields"),
        ("0 0 * *", "5 fields"),
        ("", "5 fields"),
        ("61 * * * *", "not a valid cron expression: Bad minute"),
        ("0 0 30 2 *", "not a valid cron expression: Bad day-of-month"),
        ("hourly", "5 fields"),
    ],
)
def test_a_bad_reset_is_refused_naming_what_is_wrong(reset: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_reset(reset)


def test_named_and_cron_resets_are_accepted() -> None:
    for reset in ("none", "daily", "weekly", "monthly", "*/15 8-18 * * mon-fri"):
        assert check_reset(reset) == reset


def test_a_time_zone_must_be_an_iana_name() -> None:
    assert check_timezone("Europe/Berlin") == "Europe/Berlin"
    for name in ("Mars/Olympus", "CET+1", "", "../etc/passwd"):
        with pytest.raises(ValueError, match="IANA time zone"):
            check_timezone(name)


def test_a_window_must_start_before_it_ends() -> None:
    with pytest.raises(ValueError, match="is not before ends_at"):
        Schedule(starts_at=utc(2026, 12, 2), ends_at=utc(2026, 12, 2))


def test_the_live_period_is_the_first_before_the_window_and_the_last_after_it() -> None:
    season = Schedule("weekly", "UTC", starts_at=utc(2026, 12, 2), ends_at=utc(2026, 12, 20))
    assert season.live_period(utc(2026, 11, 1)).id == "2026-W49"
    assert season.live_period(utc(2026, 12, 9)).id == "2026-W50"
    assert season.live_period(utc(2027, 3, 1)) == Period(
        "2026-W51", utc(2026, 12, 14), utc(2026, 12, 20)
    )
    assert Schedule().live_period(utc(2026, 12, 9)) == Period(ALL_TIME, None, None)


def test_only_a_schedule_or_a_window_end_makes_periods_close() -> None:
    assert not Schedule().closes
    assert not Schedule(starts_at=utc(2026, 12, 2)).closes
    assert Schedule(ends_at=utc(2026, 12, 2)).closes
    assert Schedule("daily").closes


@pytest.mark.parametrize(
    ("reset", "zone", "day"),
    [
        ("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 25, tzinfo=UTC)),
        ("45 1 * * *", "America/New_York", datetime(2026, 11, 1, tzinfo=UTC)),
        ("15 2 * * 0", "Australia/Sydney", datetime(2026, 4, 4, 12, tzinfo=UTC)),
        ("daily", "America/Santiago", datetime(2026, 4, 4, 12, tzinfo=UTC)),
    ],
)
def test_every_moment_of_a_day_when_clocks_go_back_lies_in_its_period(
    reset: str, zone: str, day: datetime
) -> None:
    schedule = Schedule(reset, zone)
    for minute in range(0, 2 * 24 * 60, 7):
        moment = day + timedelta(minutes=minute)
        assert period(schedule, moment).contains(moment), moment


@pytest.mark.parametrize(
    ("schedule", "moment"),
    [
        (BERLIN_DAILY, utc(2026, 3, 29, 12)),  # 23 hours: the clocks go forward
        (Schedule("weekly", "Europe/Berlin"), utc(2026, 12, 31, 12)),
        (Schedule("weekly", "UTC"), utc(2027, 1, 2)),  # 2026-W53
        (Schedule("monthly", "Asia/Tokyo"), utc(2028, 2, 28, 16)),  # leap day, in Tokyo
        (Schedule("*/5 * * * *", "Europe/Berlin"), utc(2026, 10, 25, 0, 33)),  # repeated hour
        (Schedule("*/5 * * * *", "Europe/Berlin"), utc(2026, 10, 25, 1, 33)),
    ],
)
def test_a_period_is_found_again_by_its_id(schedule: Schedule, moment: datetime) -> None:
    found = period(schedule, moment)
    assert schedule.period_named(found.id) == found
    assert re.match(PERIOD_ID, found.id)


def test_a_period_cut_by_the_window_is_found_by_its_id_and_none_outside_it() -> None:
    season = Schedule("daily", "UTC", utc(2026, 12, 2, 15), utc(2026, 12, 4, 9))
    assert season.period_named("2026-12-02") == Period(
        "2026-12-02", utc(2026, 12, 2, 15), utc(2026, 12, 3)
    )
    assert season.period_named("2026-12-04") == Period(
        "2026-12-04", utc(2026, 12, 4), utc(2026, 12, 4, 9)
    )
    assert season.period_named("2026-12-01") is None
    assert season.period_named("2026-12-05") is None


@pytest.mark.parametrize(
    "period_id", ["2026-W49", "2026-12", "2026-02-30", "2026-12-02T10:00Z", "all", "x"]
)
def test_an_id_of_another_kind_or_of_no_day_names_no_daily_period(period_id: str) -> None:
    assert BERLIN_DAILY.period_named(period_id) is None


def test_a_cron_id_off_the_expression_names_no_period() -> None:
    hourly = Schedule("0 * * * *")
    assert hourly.period_named("2026-12-02T10:00Z") == period(hourly, utc(2026, 12, 2, 10, 30))
    assert hourly.period_named("2026-12-02T10:05Z") is None


def test_a_board_that_never_resets_has_only_the_period_all() -> None:
    window = Schedule(ends_at=utc(2027, 1, 1))
    assert window.period_named(ALL_TIME) == Period(ALL_TIME, None, utc(2027, 1, 1))
    assert window.period_named("2026-12-02") is None
