"""``RankerMetrics``: the metrics only the ranker exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from leaderboard.core.metrics import BATCH_SECONDS_BUCKETS


class RankerMetrics:
    """Metrics of the ranker (score events applied to the Redis sorted sets)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.applied = Counter(
            "leaderboard_ranker_events_applied_total",
            "Score events added to a sorted set (each counted once; on best and latest"
            " boards a retry from outside the batch is applied again, changing nothing).",
            registry=registry,
        )
        self.duplicates = Counter(
            "leaderboard_ranker_events_duplicate_total",
            "Score events skipped because their event_id was applied within the dedup window"
            " (sum boards) or earlier in the same batch.",
            registry=registry,
        )
        self.already_applied = Counter(
            "leaderboard_ranker_events_already_applied_total",
            "Score events skipped because their offset was already applied (redelivery).",
            registry=registry,
        )
        self.before_reset = Counter(
            "leaderboard_ranker_events_before_reset_total",
            "Score events not counted because they occurred before their board's last reset.",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "leaderboard_ranker_events_dead_lettered_total",
            "Invalid score events sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.gaps = Counter(
            "leaderboard_ranker_offset_gaps_total",
            "Batches refused because they started past the partition's applied offset.",
            registry=registry,
        )
        self.replays = Counter(
            "leaderboard_ranker_partition_replays_total",
            "Partitions replayed from the topic's start because Redis no longer held their "
            "applied offset (it lost its data).",
            registry=registry,
        )
        self.apply_seconds = Histogram(
            "leaderboard_ranker_apply_duration_seconds",
            "Time from sending a batch's scripts to Redis to reading their replies, "
            "including the batches queued before it.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=registry,
        )
        self.change_notices = Counter(
            "leaderboard_ranker_change_notices_total",
            "Change notices sent (one per applied batch).",
            registry=registry,
        )
