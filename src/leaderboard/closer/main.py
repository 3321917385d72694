"""The closer process: ``leaderboard-closer`` or ``python -m leaderboard.closer``."""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard.closer.service import work
from leaderboard.closer.settings import CloserSettings
from leaderboard.core.runtime import run_worker


def main(argv: Sequence[str] | None = None) -> int:
    """Run the closer until it is stopped; returns the exit status."""
    return run_worker(CloserSettings, work, argv)
