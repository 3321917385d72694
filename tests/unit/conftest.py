"""Unit tests run without servers and ignore the developer's LEADERBOARD_* variables."""

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("LEADERBOARD_"):
            monkeypatch.delenv(name)
