"""``ArchiverMetrics``: the metrics only the archiver exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from leaderboard.core.metrics import BATCH_SECONDS_BUCKETS


class ArchiverMetrics:
    """Metrics of the archiver (game-score events into PostgreSQL)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events_archived = Counter(
            "leaderboard_archiver_events_archived_total",
            "Score events inserted into PostgreSQL for the first time.",
            registry=registry,
        )
        self.events_duplicate = Counter(
            "leaderboard_archiver_events_duplicate_total",
            "Score events skipped because their event_id was already archived "
            "(redeliveries, producer retries).",
            registry=registry,
        )
        self.events_erased = Counter(
            "leaderboard_archiver_events_erased_total",
            "Score events of erased players, not archived.",
            registry=registry,
        )
        self.events_rejected = Counter(
            "leaderboard_archiver_events_rejected_total",
            "Messages skipped because they are not valid score events, by reason.",
            ["reason"],
            registry=registry,
        )
        self.insert_seconds = Histogram(
            "leaderboard_archiver_insert_duration_seconds",
            "Time of one successful batch INSERT transaction.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
        self.postgres_retries = Counter(
            "leaderboard_archiver_postgres_retries_total",
            "PostgreSQL operations that failed transiently (server unreachable) and were "
            "retried after a backoff.",
            registry=registry,
        )
