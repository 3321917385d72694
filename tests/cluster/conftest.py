"""Fixtures of the cluster tests: the release installed as a user installs it, its API key,
and Chromium. `make test-cluster` starts the cluster first and tears it down after."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.cluster.harness import (
    CLUSTER_SCRIPT,
    KUBECONFIG,
    NAMESPACE,
    RELEASE,
    broken_pods,
    helm,
    secret_value,
    wait_for,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
#: A cold install pulls nothing (the images are on the node) but starts a JVM-free stack.
INSTALL_TIMEOUT = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.timeout(INSTALL_TIMEOUT + 600))


@dataclass(frozen=True)
class Release:
    api_key: str


@pytest.fixture(scope="session")
def release() -> Release:
    """The chart, installed afresh on the running cluster."""
    if not KUBECONFIG.exists():
        pytest.fail("no cluster: run `make test-cluster` (or `make cluster-up` to keep one)")
    if helm("status", RELEASE, "-n", NAMESPACE, check=False).returncode == 0:
        helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait")
    # helm --wait, then until Traefik routes the page (cluster.sh install waits for both).
    install_watching_pods()
    key = secret_value(f"{RELEASE}-ingest-api-keys", "api-keys").split(":", 1)[1]
    return Release(api_key=key)


def install_watching_pods() -> None:
    """`cluster.sh install` (helm --wait); a pod that crash-loops meanwhile fails it at once."""
    with tempfile.TemporaryFile("w+") as log:
        install = subprocess.Popen(
            ["bash", str(CLUSTER_SCRIPT), "install"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: install.poll() is not None, INSTALL_TIMEOUT, "helm install --wait")
        finally:
            if install.poll() is None:
                install.kill()
            install.wait()
            log.seek(0)
            output = log.read()
    if install.returncode != 0:
        reports = "\n".join(broken_pods()) or "no pod crash-looped"
        raise AssertionError(f"helm install failed:\n{output}\n{reports}")


# Module scope: the sync API keeps an asyncio loop running in this thread while it lives.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium ({CHROMIUM}) is not installed: `make test-tools` installs it")
    driver: Playwright
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        browser.close()
