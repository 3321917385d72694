"""``CloserMetrics``: the metrics only the closer exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from leaderboard.core.metrics import BATCH_SECONDS_BUCKETS


class CloserMetrics:
    """Metrics of the closer (closing periods)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "leaderboard_closer_active",
            "1 while this closer holds the lock that makes it the one that closes periods.",
            registry=registry,
        )
        self.closed = Counter(
            "leaderboard_closer_periods_closed_total",
            "Periods whose final standings this closer stored.",
            registry=registry,
        )
        self.players = Counter(
            "leaderboard_closer_players_stored_total",
            "Rows of final standings stored.",
            registry=registry,
        )
        self.announced = Counter(
            "leaderboard_closer_periods_announced_total",
            "Period-closed messages committed to Kafka.",
            registry=registry,
        )
        self.failures = Counter(
            "leaderboard_closer_failures_total",
            "Closes or announcements of one period that failed on its data (logged; retried "
            "every pass).",
            registry=registry,
        )
        self.waiting = Gauge(
            "leaderboard_closer_periods_waiting",
            "Periods past their grace that wait for the rankers to apply their last events.",
            registry=registry,
        )
        self.close_seconds = Histogram(
            "leaderboard_closer_close_duration_seconds",
            "Time to freeze, read and store one period's standings.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
        self.lateness_seconds = Histogram(
            "leaderboard_closer_close_lateness_seconds",
            "Time from a period's end plus grace to its standings being stored.",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
