"""The simulator process: ``leaderboard-simulator`` or ``python -m leaderboard.simulator``."""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard.core.runtime import run_worker
from leaderboard.simulator.service import work
from leaderboard.simulator.settings import SimulatorSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until it is stopped; returns the exit status."""
    return run_worker(SimulatorSettings, work, argv)
