"""Entry point: ``python -m leaderboard.simulator``."""

from leaderboard.core.runtime import run_worker
from leaderboard.simulator.service import run
from leaderboard.simulator.settings import SimulatorSettings

raise SystemExit(run_worker(SimulatorSettings, run))
