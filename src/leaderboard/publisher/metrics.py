"""``PublisherMetrics``: the metrics only the publisher exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from leaderboard.core.metrics import BATCH_SECONDS_BUCKETS


class PublisherMetrics:
    """Metrics of the publisher (top-N snapshots)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notices = Counter(
            "leaderboard_publisher_notices_total",
            "Change notices consumed.",
            registry=registry,
        )
        self.published = Counter(
            "leaderboard_publisher_snapshots_published_total",
            "Snapshots written to the cache and the leaderboard topic.",
            registry=registry,
        )
        self.unchanged = Counter(
            "leaderboard_publisher_snapshots_unchanged_total",
            "Snapshots not published because the top N did not change.",
            registry=registry,
        )
        self.freshness_seconds = Histogram(
            "leaderboard_publisher_freshness_seconds",
            "Publish time minus the snapshot's newest_event_at (end-to-end freshness).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "leaderboard_publisher_publish_duration_seconds",
            "Time to read, cache and publish one snapshot.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
