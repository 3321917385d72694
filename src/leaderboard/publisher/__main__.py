"""Entry point: ``python -m leaderboard.publisher``."""

from leaderboard.core.runtime import run_worker
from leaderboard.publisher.service import run
from leaderboard.publisher.settings import PublisherSettings

raise SystemExit(run_worker(PublisherSettings, run))
