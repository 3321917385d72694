"""A board that resets every minute on the live page, in a real browser: the page shows
the snapshot's period and a countdown to its end, and at the minute the new, empty period
replaces the rows without a reload.

The standings are written straight into the minute's keys and a change notice is sent, as
the ranker does for a scheduled board; publisher and gateway are real processes.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.settings import DevstackSettings
from tests.e2e.conftest import PATIENCE_MS, expect_live, open_page, wait_for_ranking
from tests.support.database import schema_env
from tests.support.periods import EVERY_MINUTE, MINUTELY, minute_with_room
from tests.support.pipeline import (
    Services,
    publish_definition,
    send_change_notice,
)
from tests.support.standings import seed_standings

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SCORES = {"ada": (30, T0), "bob": (20, T0)}


def test_a_minute_board_shows_its_period_counts_down_and_rolls_over(
    browser: Browser,
    settings: DevstackSettings,
    redis: Redis,
    schema: str,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    board = f"sprint-{uuid.uuid4().hex[:6]}"
    publish_definition(settings, board, title="Minute sprint", reset=EVERY_MINUTE)
    services = Services(settings, tmp_path)
    try:
        services.start("publisher", LEADERBOARD_PUBLISHER_INTERVAL_SECONDS="0.1").wait_ready()
        gateway = services.gateway(**schema_env(schema)).wait_ready()  # lists its periods
        minute = minute_with_room(15)
        seed_standings(redis, RedisKeys(settings.redis_key_prefix), board, SCORES, period=minute.id)
        send_change_notice(settings, board)
        page = open_page(browser, f"{gateway.base_url}/#leaderboard={board}")
        try:
            expect_live(page)
            wait_for_ranking(page, ["ada", "bob"], "the minute's standings")
            period = page.locator("#period")
            expect(period).to_have_attribute("data-period", minute.id)
            # "Period 2026-01-01T10:31Z · resets in 00:00:42", counting down.
            countdown = re.compile(rf"^Period {re.escape(minute.id)} · resets in 00:00:\d\d$")
            expect(period).to_have_text(countdown)
            shown = period.inner_text()
            expect(period).not_to_have_text(shown)  # a second later
            page.screenshot(path=str(artifacts / "gateway-page-period.png"), full_page=True)

            following = MINUTELY.period_after(minute)
            assert following is not None
            # Up to a minute away: wait for the boundary, then as long as for anything else.
            assert minute.end is not None
            until_rollover = (minute.end - datetime.now(UTC)).total_seconds() * 1000
            expect(period).to_have_attribute(
                "data-period", following.id, timeout=until_rollover + PATIENCE_MS
            )  # no reload
            wait_for_ranking(page, [], "the new minute's empty board")
            expect(page.locator("#board-empty")).to_be_visible()
            expect(page.locator("#board-empty")).to_contain_text("No scores in this period yet")
            expect(period).to_have_text(re.compile(r"resets in 00:00:[0-5]\d$"))
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
        finally:
            page.close()
    finally:
        services.close()
