"""Unit tests run without servers and ignore the developer's LEADERBOARD_* variables."""

import os
from collections.abc import Iterator

import pytest

from leaderboard.core.lifecycle import Shutdown


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LEADERBOARD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def shutdown() -> Iterator[Shutdown]:
    """A stop request that never ends the test process; its watchdog is disarmed after."""
    stop = Shutdown(timeout=60, hard_exit=lambda code: None)
    yield stop
    stop.complete()
