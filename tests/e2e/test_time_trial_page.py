"""A time-trial board on the live page, in a real browser, on the whole pipeline.

The board is defined through the ingest's admin API (best lap, lowest first, shown as a
time) before the ranker and publisher start, so they read the definition before the first
lap; laps go in through the real ingest API. The page must show the board's title, its laps
as m:ss.mmm (h:mm:ss.mmm past an hour), fastest first, and follow a new best lap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from leaderboard.devstack.settings import DevstackSettings
from tests.e2e.conftest import expect_live, open_page, wait_for_ranking
from tests.support.database import own_schema
from tests.support.pipeline import (
    Services,
    define_board,
    isolated_settings,
    post_scores,
)
from tests.support.services import ServiceProcess

pytestmark = pytest.mark.e2e

BOARD = f"monza-{uuid.uuid4().hex[:6]}"
TITLE = "Monza time trial"
#: Laps in milliseconds, up to ten hours (the deployment's default bound is 1,000,000).
LONGEST_LAP_MS = 36_000_000
SPEC = {
    "title": TITLE,
    "operator": "best",
    "sort": "asc",
    "format": "time_ms",
    "score_max": LONGEST_LAP_MS,
}
NAMES = {"ada": "Ada Apex", "bo": "Bo Brake", "cy": "Cy Chicane", "dee": "Dee Drift"}


@pytest.fixture(scope="module")
def trial(
    stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Services, ServiceProcess]]:
    """The ingest with its admin API, ``BOARD`` defined, then ranker and publisher."""
    settings = isolated_settings(stack).model_copy(update={"score_max": LONGEST_LAP_MS})
    with own_schema(stack, "page_test", migrated=True) as schema:
        services = Services(settings, tmp_path_factory.mktemp("time-trial"))
        try:
            ingest = services.ingest(admin_schema=schema)
            define_board(ingest, services.admin_key, BOARD, SPEC)
            # Started after the definition: each reads the whole definitions topic first.
            services.start("ranker")
            services.start("publisher", LEADERBOARD_PUBLISHER_INTERVAL_SECONDS="0.1")
            yield services, ingest
        finally:
            services.close()


def laps(trial: tuple[Services, ServiceProcess], *runs: tuple[str, int]) -> None:
    services, ingest = trial
    post_scores(
        ingest,
        services.api_key,
        [
            {"leaderboard": BOARD, "player_id": p, "score": ms, "display_name": NAMES[p]}
            for p, ms in runs
        ],
    )


def test_a_time_trial_shows_its_title_and_times_fastest_first(
    browser: Browser,
    trial: tuple[Services, ServiceProcess],
    tmp_path: Path,
    artifacts: Path,
) -> None:
    laps(trial, ("ada", 83_456), ("bo", 79_999), ("cy", 91_250), ("dee", 3_723_456))
    gateways = Services(trial[0].settings, tmp_path)
    try:
        gateway = gateways.gateway().wait_ready()
        page = open_page(browser, f"{gateway.base_url}/#leaderboard={BOARD}")
        try:
            expect_live(page)
            wait_for_ranking(page, ["bo", "ada", "cy", "dee"], "the laps, fastest first")
            expect(page.locator("#board-name")).to_have_text(f"· {TITLE}")
            expect(page.locator("#score-heading")).to_have_text("Time")
            expect(page).to_have_title(f"{TITLE} · Live leaderboard")
            row = '#board li.row[data-player="{}"] .score'
            expect(page.locator(row.format("bo"))).to_have_text("1:19.999")
            expect(page.locator(row.format("ada"))).to_have_text("1:23.456")
            expect(page.locator(row.format("dee"))).to_have_text("1:02:03.456")

            # A slower lap changes nothing (best); a faster one takes the lead.
            laps(trial, ("ada", 85_000), ("cy", 78_001))
            wait_for_ranking(page, ["cy", "bo", "ada", "dee"], "cy's new best lap to lead")
            expect(page.locator(row.format("cy"))).to_have_text("1:18.001")
            expect(page.locator(row.format("ada"))).to_have_text("1:23.456")

            # The lookup shows times too.
            page.locator('#board li.row[data-player="ada"]').click()
            summary = page.locator(".lookup-summary")
            expect(summary).to_have_attribute("data-rank", "3")
            expect(summary).to_contain_text("time 1:23.456")
            expect(page.locator(".neighbours li.me .n-score")).to_have_text("1:23.456")

            page.screenshot(path=str(artifacts / "gateway-page-time-trial.png"), full_page=True)
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
        finally:
            page.close()
    finally:
        gateways.close()
