"""Fixtures of the browser tests: the stack, headless Chromium, nginx, artifacts; and the
page helpers they share (open a page, read and wait for its ranking).

Chromium and nginx are Debian's (``python -m leaderboard.devstack tools`` installs them;
``make test`` runs it). Playwright only drives the browser: its own browser download is
never used. nginx runs as the test's child on a free loopback port, with its
configuration, pid file, logs and temporary files in the test's ``tmp_path``: it never
touches port 80 or the system service.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from redis import Redis

from leaderboard.core.config import load_settings
from leaderboard.core.keys import RedisKeys
from leaderboard.devstack.settings import DevstackSettings
from leaderboard.devstack.stack import Stack
from tests.support.database import own_schema
from tests.support.pipeline import isolated_settings
from tests.support.redis_keys import delete_keys
from tests.support.services import REPO_ROOT, free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
MISSING_TOOL = (
    "{what} is not installed: run `python -m leaderboard.devstack tools` (make test does)"
)
DESKTOP = {"width": 1280, "height": 900}
#: The browser and the services share two loaded cores: be patient, never sleep.
PATIENCE_MS = 45_000
expect.set_options(timeout=PATIENCE_MS)


@pytest.fixture(scope="session")
def stack() -> DevstackSettings:
    """Settings of the running local stack (brought up if needed)."""
    settings = load_settings(DevstackSettings)
    Stack(settings).up()
    return settings


@pytest.fixture
def settings(stack: DevstackSettings) -> DevstackSettings:
    """The stack with topics and a Redis key prefix of the test's own."""
    return isolated_settings(stack)


@pytest.fixture
def redis(settings: DevstackSettings) -> Iterator[Redis]:
    """A client of the stack's Redis; the test's keys are deleted afterwards."""
    client = Redis(**settings.redis_client_kwargs())
    yield client
    delete_keys(client, RedisKeys(settings.redis_key_prefix).prefix)
    client.close()


@pytest.fixture
def schema(stack: DevstackSettings) -> Iterator[str]:
    """A migrated PostgreSQL schema of the test's own, for a gateway that reads closed
    periods (``tests.support.database.schema_env``): the page lists a resetting board's."""
    with own_schema(stack, "e2e_test", migrated=True) as name:
        yield name


# Module scope, not session: the sync API keeps an asyncio loop running in this thread
# until it stops, and later tests that call asyncio.run() would fail while it lives.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(MISSING_TOOL.format(what=f"Chromium ({CHROMIUM})"))
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


NGINX_CONF = """
worker_processes 1;
{user}
pid {home}/nginx.pid;
error_log {home}/error.log info;

events {{
    worker_connections 512;
}}

http {{
    access_log {home}/access.log;
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;

    # As an ingress controller does: upgrade WebSockets, close other idle upstreams.
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen 127.0.0.1:{port};

        location = {prefix} {{
            return 301 {prefix}/;
        }}

        location {prefix}/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Prefix {prefix};
            proxy_connect_timeout 5s;
            # Idle WebSockets are closed after this; the gateway pings every 20 s.
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_buffering off;
        }}
    }}
}}
"""


class Nginx:
    """An nginx child process proxying ``prefix/`` to a gateway on ``upstream``."""

    def __init__(self, home: Path, upstream: int, prefix: str) -> None:
        binary = shutil.which("nginx", path=os.pathsep.join([os.environ["PATH"], "/usr/sbin"]))
        if binary is None:
            pytest.fail(MISSING_TOOL.format(what="nginx"))
        self.home = home
        self.port = free_port()
        self.prefix = prefix
        home.mkdir(parents=True, exist_ok=True)
        config = home / "nginx.conf"
        config.write_text(
            NGINX_CONF.format(
                home=home,
                port=self.port,
                upstream=upstream,
                prefix=prefix,
                # As root the workers would switch to `nobody`, who cannot read tmp_path.
                user="user root;" if os.geteuid() == 0 else "",
            )
        )
        self._stderr = (home / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "-p", str(home), "-c", str(config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        wait_for(self._listening, 15, f"nginx on port {self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}/"

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"nginx exited with {self.process.returncode}:\n{self.logs()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in (self.home / "stderr.log", self.home / "error.log")
            if path.exists()
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self._stderr.close()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[int, str], Nginx]]:
    started: list[Nginx] = []

    def start(upstream: int, prefix: str = "/leaderboard") -> Nginx:
        proxy = Nginx(tmp_path / f"nginx-{len(started)}", upstream, prefix)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def open_page(browser: Browser, url: str, viewport: dict[str, int] = DESKTOP) -> Page:
    """A new page at ``url``; ``page.errors`` collects its script and console errors."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(PATIENCE_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(url)
    return page


def ranking(page: Page) -> list[str]:
    """The player ids of the page's top 10, in the order shown."""
    return page.eval_on_selector_all("#board li.row", "rows => rows.map(r => r.dataset.player)")


def wait_for_ranking(page: Page, expected: list[str], what: str) -> None:
    wait_for(lambda: ranking(page) == expected, PATIENCE_MS / 1000, what, every=0.25)


def expect_live(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", "live")
