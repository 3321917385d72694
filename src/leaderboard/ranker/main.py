"""The ranker process: ``leaderboard-ranker`` or ``python -m leaderboard.ranker``."""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard.core.runtime import run_worker
from leaderboard.ranker.service import work
from leaderboard.ranker.settings import RankerSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ranker until it is stopped; returns the exit status."""
    return run_worker(RankerSettings, work, argv)
