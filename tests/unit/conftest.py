"""Unit tests run without servers and ignore the developer's LEADERBOARD_* variables."""

import logging
import os
from collections.abc import Iterator

import pytest
import structlog

from leaderboard.core.lifecycle import Shutdown


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LEADERBOARD_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that run a ``main()`` or ``configure_logging`` leave a root handler on a stream
    that is closed after them (pytest's captured output), which a later test's background
    thread would log to: give every test the logging it started with."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def shutdown() -> Iterator[Shutdown]:
    """A stop request that never ends the test process; its watchdog is disarmed after."""
    stop = Shutdown(timeout=60, hard_exit=lambda code: None)
    yield stop
    stop.complete()
