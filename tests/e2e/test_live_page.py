"""The live page in a real browser (Debian's Chromium, headless), on the whole pipeline.

Scores go in through the real ingest API; the ranker, publisher and gateway are real
processes on the stack's Kafka and Redis. The page must fill its top 10, follow new
scores, look a player up and follow that player's rank live over the WebSocket (no REST
polling), come back by itself after the gateway restarts, and work the same behind nginx
at a path prefix. Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from leaderboard.devstack.settings import DevstackSettings
from tests.e2e.conftest import Nginx, expect_live, open_page, ranking, wait_for_ranking
from tests.support.pipeline import Services, isolated_settings, post_scores, scores
from tests.support.services import ServiceProcess, free_port, wait_for

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}

PLAYERS = {f"p{n:02d}": (13 - n) * 100 for n in range(1, 13)}  # p01 1200 ... p12 100
NAMES = dict(
    zip(
        PLAYERS,
        [
            "Nova Knight", "Pixel Pirate", "Ada Lovelace", "Byte Bandit", "Luna Lynx",
            "Turbo Tortoise", "Zed Zephyr", "Mira Moss", "Rex Rocket", "Ivy Ion",
            "Quinn Quasar", "Otto Orbit",
        ],
        strict=True,
    )
)  # fmt: skip


@pytest.fixture(scope="module")
def pipeline(
    stack: DevstackSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Services, ServiceProcess]]:
    """Ranker, publisher and ingest on topics of this module's own; returns the ingest."""
    services = Services(isolated_settings(stack), tmp_path_factory.mktemp("pipeline"))
    try:
        ingest = services.scoring(LEADERBOARD_PUBLISHER_INTERVAL_SECONDS="0.1")
        yield services, ingest
    finally:
        services.close()


@pytest.fixture
def gateways(pipeline: tuple[Services, ServiceProcess], tmp_path: Path) -> Iterator[Services]:
    """Gateways for one test, on the module's pipeline."""
    services = Services(pipeline[0].settings, tmp_path)
    yield services
    services.close()


@pytest.fixture
def board(pipeline: tuple[Services, ServiceProcess]) -> str:
    """A new leaderboard with twelve players, p01 first (1200) to p12 last (100)."""
    services, ingest = pipeline
    name = f"arena-{uuid.uuid4().hex[:6]}"
    post_scores(ingest, services.api_key, scores(name, PLAYERS, NAMES))
    return name


def score(pipeline: tuple[Services, ServiceProcess], board: str, player: str, points: int) -> None:
    services, ingest = pipeline
    post_scores(ingest, services.api_key, scores(board, {player: points}))


def top_10_then_a_climb(page: Page, pipeline: tuple[Services, ServiceProcess], board: str) -> None:
    """The scenario every page test shares: the initial top 10, then p12 takes the lead."""
    expect_live(page)
    wait_for_ranking(page, [f"p{n:02d}" for n in range(1, 11)], "the initial top 10")
    first = page.locator("#board li.row").first
    expect(first.locator(".name")).to_have_text("Nova Knight")
    expect(first.locator(".score")).to_have_text("1,200")
    expect(first.locator(".rank-number")).to_have_text("1")

    score(pipeline, board, "p12", 2_000)  # 100 -> 2100: from 12th to 1st
    wait_for_ranking(page, ["p12"] + [f"p{n:02d}" for n in range(1, 10)], "p12 to take the lead")
    expect(page.locator('#board li.row[data-player="p12"] .score')).to_have_text("2,100")
    expect(page.locator('#board li.row[data-player="p12"] .move')).to_have_class("move new")
    expect(page.locator('#board li.row[data-player="p01"] .move')).to_have_class("move down")
    expect(page.locator("#updated")).to_contain_text("Updated")


def test_the_page_shows_the_live_top_10_follows_scores_and_looks_players_up(
    browser: Browser,
    pipeline: tuple[Services, ServiceProcess],
    gateways: Services,
    board: str,
    artifacts: Path,
) -> None:
    gateway = gateways.gateway().wait_ready()
    page = open_page(browser, f"{gateway.base_url}/#leaderboard={board}")
    player_requests: list[str] = []
    page.on(
        "request",
        lambda request: player_requests.append(request.url) if "/players/" in request.url else None,
    )
    try:
        top_10_then_a_climb(page, pipeline, board)

        # Player lookup: p11 is now 12th and last; its neighbours are ranks 9 to 11.
        page.fill("#lookup-input", "p11")
        page.click("#lookup-form button")
        summary = page.locator(".lookup-summary")
        expect(summary).to_have_attribute("data-rank", "12")
        expect(summary).to_contain_text("Quinn Quasar")
        expect(summary).to_contain_text("200 points")
        neighbours = page.locator(".neighbours li")
        expect(neighbours).to_have_count(4)
        expect(neighbours.last).to_have_class("me")
        expect(neighbours.first).to_have_attribute("data-rank", "9")
        expect(page.locator("#status")).to_have_attribute("data-state", "live")

        # p11 passes p10 (200 -> 350): 11th, still below the top 10, so no snapshot
        # changes; the lookup follows anyway, pushed over the WebSocket.
        score(pipeline, board, "p11", 150)
        expect(summary).to_have_attribute("data-rank", "11")
        expect(summary).to_contain_text("350 points")
        expect(neighbours).to_have_count(5)
        expect(page.locator(".neighbours li.me")).to_have_attribute("data-rank", "11")
        expect(neighbours.last).to_have_attribute("data-rank", "12")
        # ... and its neighbour's score, as it changes: p10 300 -> 320, still 12th.
        score(pipeline, board, "p10", 20)
        expect(neighbours.last.locator(".n-score")).to_have_text("320")
        assert ranking(page) == ["p12"] + [f"p{n:02d}" for n in range(1, 10)]
        assert player_requests == [], "the page asked the REST API for a player"
        # Tapping a row looks that player up.
        page.locator('#board li.row[data-player="p03"]').click()
        expect(summary).to_have_attribute("data-rank", "4")
        expect(page.locator('#board li.row[data-player="p03"]')).to_have_class(
            re.compile(r"\blooked-up\b")
        )

        page.screenshot(path=str(artifacts / "gateway-page-desktop.png"), full_page=True)
        phone = open_page(browser, f"{gateway.base_url}/#leaderboard={board}", PHONE)
        try:
            wait_for_ranking(phone, ranking(page), "the phone page to show the same top 10")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], "the page scrolls sideways on a phone"
            phone.screenshot(path=str(artifacts / "gateway-page-phone.png"), full_page=True)
        finally:
            phone.close()

        # A player without a score is watched too, and shows up with its first one.
        page.fill("#lookup-input", "nobody")
        page.click("#lookup-form button")
        expect(page.locator('[data-testid="lookup-missing"]')).to_have_text(
            f"player 'nobody' has no score on leaderboard '{board}' yet"
        )
        score(pipeline, board, "nobody", 50)
        expect(summary).to_have_attribute("data-rank", "13")
        expect(summary).to_contain_text("of 13 players")
        assert player_requests == [], "the page asked the REST API for a player"
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()


def test_the_page_reconnects_after_the_gateway_restarts(
    browser: Browser, pipeline: tuple[Services, ServiceProcess], gateways: Services, board: str
) -> None:
    gateway = gateways.gateway(port=free_port()).wait_ready()
    page = open_page(browser, f"{gateway.base_url}/#leaderboard={board}")
    try:
        expect_live(page)
        wait_for_ranking(page, [f"p{n:02d}" for n in range(1, 11)], "the initial top 10")

        assert gateway.stop() == 0
        expect(page.locator("#status")).to_have_attribute("data-state", "offline")
        expect(page.locator("#status-text")).to_contain_text("retrying in")

        gateway.start().wait_ready()  # the same port, as a restarted pod behind a service
        expect_live(page)
        score(pipeline, board, "p10", 5_000)
        wait_for_ranking(
            page, ["p10"] + [f"p{n:02d}" for n in range(1, 10)], "an update on the new connection"
        )
    finally:
        page.close()


def test_the_page_and_websocket_work_behind_nginx_at_a_path_prefix(
    browser: Browser,
    pipeline: tuple[Services, ServiceProcess],
    gateways: Services,
    board: str,
    nginx: Callable[[int, str], Nginx],
    artifacts: Path,
) -> None:
    gateway = gateways.gateway(
        LEADERBOARD_GATEWAY_ROOT_PATH="/leaderboard",
        # Only the same-origin rule lets the proxied page in: Origin vs forwarded Host.
        LEADERBOARD_GATEWAY_ALLOW_LOOPBACK_ORIGINS="false",
    ).wait_ready()
    proxy: Nginx = nginx(gateway.port, "/leaderboard")
    page = open_page(browser, f"{proxy.url}#leaderboard={board}")
    try:
        top_10_then_a_climb(page, pipeline, board)
        page.fill("#lookup-input", "p05")
        page.click("#lookup-form button")
        expect(page.locator(".lookup-summary")).to_have_attribute("data-rank", "6")
        page.screenshot(path=str(artifacts / "gateway-page-behind-nginx.png"), full_page=True)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.close()

    # nginx logs a WebSocket when it ends (the page just closed it).
    access_log = proxy.home / "access.log"
    upgraded = f'"GET /leaderboard/ws/leaderboards/{board} HTTP/1.1" 101'
    wait_for(lambda: upgraded in access_log.read_text(), 30, "nginx to log the WebSocket")
    assert '"GET /leaderboard/static/app.js HTTP/1.1" 200' in access_log.read_text()
    # The API docs work at the prefix too (LEADERBOARD_GATEWAY_ROOT_PATH).
    assert httpx2.get(f"{proxy.url}openapi.json", timeout=10).status_code == 200
    docs = httpx2.get(f"{proxy.url}docs", timeout=10)
    assert "/leaderboard/openapi.json" in docs.text
    redirect = httpx2.get(proxy.url.rstrip("/"), timeout=10)
    assert redirect.status_code == 301
