"""The archiver process: ``leaderboard-archiver`` or ``python -m leaderboard.archiver``."""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard.archiver.service import work
from leaderboard.archiver.settings import ArchiverSettings
from leaderboard.core.runtime import run_worker


def main(argv: Sequence[str] | None = None) -> int:
    """Run the archiver until it is stopped; returns the exit status."""
    return run_worker(ArchiverSettings, work, argv)
