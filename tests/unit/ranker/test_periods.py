from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from leaderboard.core.events import InvalidEventError, ScoreBounds
from leaderboard.core.periods import Schedule
from leaderboard.ranker.apply import DEFAULT_SCORING
from leaderboard.ranker.periods import RECENT_PERIODS, PeriodFinder
from leaderboard.ranker.service import MAX_CLOCK_SKEW_MS, Rules, arrival_ms, period_of
from tests.support.kafka_fakes import FakeMessage

GRACE = timedelta(seconds=300)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def rules(schedule: Schedule | None) -> Rules:
    finder = None if schedule is None else PeriodFinder(schedule, GRACE)
    return Rules(DEFAULT_SCORING, ScoreBounds(), None, finder)


def test_an_event_counts_in_the_period_of_its_occurred_at_not_of_now() -> None:
    daily = rules(Schedule("daily", "UTC"))
    assert period_of(daily, "b", NOW, ms(NOW)) == "2026-12-03"
    # Yesterday's last microsecond, 4 minutes into today: still in the grace.
    late = datetime(2026, 12, 2, 23, 59, 59, 999_999, tzinfo=UTC)
    assert period_of(daily, "b", late, ms(NOW.replace(hour=0, minute=4))) == "2026-12-02"


def test_after_the_grace_an_event_is_refused_as_period_closed() -> None:
    daily = rules(Schedule("daily", "UTC"))
    late = datetime(2026, 12, 2, 23, 59, tzinfo=UTC)
    with pytest.raises(InvalidEventError) as refused:
        period_of(daily, "b", late, ms(NOW.replace(hour=0, minute=5)))
    assert refused.value.reason == "period_closed"
    assert "period 2026-12-02 of 'b' ended at 2026-12-03T00:00:00+00:00" in refused.value.detail


def test_with_no_grace_the_period_closes_at_its_end() -> None:
    zero = Rules(
        DEFAULT_SCORING, ScoreBounds(), None, PeriodFinder(Schedule("daily"), timedelta(0))
    )
    with pytest.raises(InvalidEventError, match="grace of 0 s"):
        period_of(zero, "b", NOW - timedelta(hours=13), ms(NOW.replace(hour=0)))


def test_outside_the_window_an_event_is_refused_naming_the_window() -> None:
    cup = rules(Schedule(starts_at=NOW, ends_at=NOW + timedelta(days=2)))
    with pytest.raises(InvalidEventError) as refused:
        period_of(cup, "cup", NOW - timedelta(seconds=1), ms(NOW))
    assert refused.value.reason == "outside_window"
    assert "starts_at 2026-12-03T12:00:00+00:00, ends_at 2026-12-05T12:00:00+00:00" in (
        refused.value.detail
    )
    # Inside, a window board without resets counts in its one period, which closes.
    assert period_of(cup, "cup", NOW, ms(NOW)) == "all"


def test_a_board_whose_period_never_closes_counts_in_the_all_time_keys() -> None:
    assert period_of(rules(None), "b", NOW, ms(NOW)) is None
    opened = rules(Schedule(starts_at=NOW))  # a start but no end: never closes
    assert period_of(opened, "b", NOW + timedelta(days=900), ms(NOW)) is None
    with pytest.raises(InvalidEventError, match="outside the window"):
        period_of(opened, "b", NOW - timedelta(days=1), ms(NOW))


def test_the_finder_keeps_the_last_periods_and_finds_the_same_ones() -> None:
    schedule = Schedule("*/5 * * * *", "Europe/Berlin")
    finder = PeriodFinder(schedule, GRACE)
    moments = [NOW + timedelta(minutes=m, seconds=s) for m in range(0, 60, 3) for s in (0, 59)]
    for moment in moments:
        found = finder.find(moment.astimezone(timezone(timedelta(hours=-5))))
        assert found is not None
        period, grace_ends = found
        assert period == schedule.period_at(moment)
        assert period.end is not None
        assert grace_ends == ms(period.end + GRACE)
    assert len(finder._recent) == RECENT_PERIODS


def test_an_event_arrives_when_its_record_reached_kafka_whatever_the_clock_says() -> None:
    # A ranker replaying an old record decides by the record's time, as it did then.
    record = FakeMessage("game-score", 0, 7, timestamp_ms=1_796_300_000_123)
    assert arrival_ms(record, 42) == 1_796_300_000_123
    assert arrival_ms(FakeMessage("game-score", 0, 8), 42) == 42  # no time on the record


def test_an_event_from_further_ahead_than_the_clock_skew_is_refused() -> None:
    daily = rules(Schedule("daily", "UTC"))
    skew = timedelta(milliseconds=MAX_CLOCK_SKEW_MS)
    assert period_of(daily, "b", NOW + skew, ms(NOW)) == "2026-12-03"
    with pytest.raises(InvalidEventError) as refused:
        period_of(daily, "b", NOW + timedelta(days=7), ms(NOW))
    assert refused.value.reason == "occurred_in_future"
    assert "is 604800 s after the event reached Kafka" in refused.value.detail
    # Without periods, a future time only orders ties: not refused here.
    assert period_of(rules(None), "b", NOW + timedelta(days=7), ms(NOW)) is None
