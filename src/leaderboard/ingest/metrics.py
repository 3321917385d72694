"""``IngestMetrics``: the metrics only the ingest exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from leaderboard.core.metrics import BATCH_SECONDS_BUCKETS, request_duration


class IngestMetrics:
    """Metrics of the ingest API (scores submitted over HTTP into game-score)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.http_requests = request_duration("ingest", registry)
        self.events_accepted = Counter(
            "leaderboard_ingest_events_accepted_total",
            "Score events acknowledged by Kafka (acks=all) and answered 202.",
            registry=registry,
        )
        self.produce_seconds = Histogram(
            "leaderboard_ingest_produce_duration_seconds",
            "Time from producing one request's events until Kafka acknowledged all of them.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
