"""The publisher process: ``leaderboard-publisher`` or ``python -m leaderboard.publisher``."""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard.core.runtime import run_worker
from leaderboard.publisher.service import work
from leaderboard.publisher.settings import PublisherSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the publisher until it is stopped; returns the exit status."""
    return run_worker(PublisherSettings, work, argv)
