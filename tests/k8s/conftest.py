"""Fixtures of the offline Kubernetes tests: helm (built once by k8s/install-tools.sh),
the chart rendered for every value profile, the upstream CRD schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.k8s.harness import PROFILES, ChartRenderer, Rendered, ensure_helm, load_crd_schemas

#: The first test to need helm may build it (about 3.5 minutes on 2 cores).
HELM_BUILD_TIMEOUT = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.timeout(HELM_BUILD_TIMEOUT))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built by these tests see only what the chart renders."""
    for name in list(os.environ):
        if name.upper().startswith("LEADERBOARD_") and name != "LEADERBOARD_CACHE_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def helm() -> Path:
    return ensure_helm()


@pytest.fixture(scope="session")
def renderer(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> ChartRenderer:
    return ChartRenderer(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def rendered(renderer: ChartRenderer) -> dict[str, Rendered]:
    return {profile: renderer.render(profile) for profile in PROFILES}


@pytest.fixture(scope="session", params=sorted(PROFILES))
def profile(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


@pytest.fixture(scope="session")
def crd_schemas() -> dict:
    return load_crd_schemas()
