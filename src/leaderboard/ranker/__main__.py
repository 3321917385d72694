"""Entry point: ``python -m leaderboard.ranker``."""

from leaderboard.core.runtime import run_worker
from leaderboard.ranker.service import run
from leaderboard.ranker.settings import RankerSettings

raise SystemExit(run_worker(RankerSettings, run))
