"""Riding out PostgreSQL outages: ``core.retry.DependencyRetrier`` configured for PostgreSQL.

``store`` says which failures are transient and which error a permanent one becomes.
"""

from __future__ import annotations

from leaderboard.archiver.metrics import ArchiverMetrics
from leaderboard.archiver.store import describe_failure, is_transient, permanent_failure
from leaderboard.core.errors import DatabaseUnavailableError
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.probes import Health
from leaderboard.core.retry import DependencyRetrier

#: The readiness check this module owns.
CHECK = "postgres"


class PostgresRetrier(DependencyRetrier):
    """Runs PostgreSQL operations until they succeed, reporting the outage meanwhile."""

    def __init__(
        self,
        *,
        health: Health,
        shutdown: Shutdown,
        metrics: ArchiverMetrics,
        min_wait: float,
        max_wait: float,
    ) -> None:
        super().__init__(
            check=CHECK,
            label="PostgreSQL",
            is_transient=is_transient,
            health=health,
            shutdown=shutdown,
            min_wait=min_wait,
            max_wait=max_wait,
            describe=describe_failure,
            permanent=permanent_failure,
            unavailable=DatabaseUnavailableError,
            retries=metrics.postgres_retries,
        )
