"""A board's past periods on the live page, in a real browser: the selector lists last
month, whose final standings (stored in PostgreSQL as the closer stores them) replace the
live rows, and "Back to live" (or "Live" in the selector) brings the live ones back.

The live standings are written straight into this month's keys and a change notice is
sent, as the ranker does; publisher and gateway are real processes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from redis import Redis

from leaderboard.core.keys import RedisKeys
from leaderboard.core.periods import Schedule
from leaderboard.devstack.settings import DevstackSettings
from tests.e2e.conftest import expect_live, open_page, wait_for_ranking
from tests.support.closed_periods import store_closed_period
from tests.support.database import schema_env, scoped_engine
from tests.support.pipeline import (
    Services,
    publish_definition,
    send_change_notice,
)
from tests.support.standings import seed_standings

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTHLY = Schedule("monthly", "UTC")
LIVE = {"ada": (30, T0), "bob": (20, T0)}
FINAL = [("cy", "Cy", 90, T0), ("dee", None, 80, T0), ("ada", "Ada", 70, T0)]


def test_a_past_period_shows_its_final_standings_and_the_page_returns_to_live(
    browser: Browser,
    settings: DevstackSettings,
    redis: Redis,
    schema: str,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    board = f"cup-{uuid.uuid4().hex[:6]}"
    definition = publish_definition(settings, board, title="Monthly cup", reset="monthly")
    month = MONTHLY.live_period(datetime.now(UTC))
    last = MONTHLY.period_before(month)
    assert last is not None
    engine = scoped_engine(settings, schema)
    try:
        store_closed_period(engine, definition, last, FINAL)
    finally:
        engine.dispose()
    services = Services(settings, tmp_path)
    try:
        services.start("publisher", LEADERBOARD_PUBLISHER_INTERVAL_SECONDS="0.1").wait_ready()
        gateway = services.gateway(**schema_env(schema)).wait_ready()
        seed_standings(redis, RedisKeys(settings.redis_key_prefix), board, LIVE, period=month.id)
        send_change_notice(settings, board)
        page = open_page(browser, f"{gateway.base_url}/#leaderboard={board}")
        try:
            expect_live(page)
            wait_for_ranking(page, ["ada", "bob"], "the live month's standings")
            period = page.locator("#period")
            expect(period).to_have_attribute("data-period", month.id)
            picker = page.locator("#period-select")
            expect(page.locator("#period-picker")).to_be_visible()
            expect(picker.locator("option")).to_have_text(["Live", f"{last.id} · final"])

            picker.select_option(last.id)
            wait_for_ranking(page, ["cy", "dee", "ada"], "last month's final standings")
            expect(period).to_have_attribute("data-view", "past")
            expect(period).to_have_text(f"Period {last.id} · final standings")
            expect(page.locator("#stat-players")).to_have_text("3")
            expect(page.locator('#board li[data-player="cy"] .name')).to_have_text("Cy")
            page.screenshot(path=str(artifacts / "gateway-page-past-period.png"), full_page=True)

            page.locator("#back-to-live").click()
            wait_for_ranking(page, ["ada", "bob"], "the live standings again")
            expect(period).to_have_attribute("data-view", "live")
            expect(period).to_have_attribute("data-period", month.id)
            expect(picker).to_have_value("")
            expect(page.locator("#back-to-live")).to_be_hidden()

            picker.select_option(last.id)
            wait_for_ranking(page, ["cy", "dee", "ada"], "last month's standings, again")
            picker.select_option("")
            wait_for_ranking(page, ["ada", "bob"], "live, from the selector")
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
        finally:
            page.close()
    finally:
        services.close()
