"""Prometheus metrics every process shares: ``Metrics`` (its registry, build info, runtime
collectors and the batch consumer's metrics). Each service declares its own metrics in
``<service>/metrics.py``; the web services' endpoint and request accounting are in ``web``.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

import leaderboard
from leaderboard.core.logging import get_logger

_log = get_logger(__name__)

#: Batch durations from 1 ms to about 30 s.
BATCH_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_SIZE_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
#: HTTP request durations from 1 ms (a REST read from Redis) to 10 s (past the ingest's
#: request deadline, which a score submission waiting for Kafka can reach).
REQUEST_SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)


def request_duration(service: str, registry: CollectorRegistry) -> Histogram:
    """The request histogram of a web service (``leaderboard.core.web.instrument_requests``
    records it): ``leaderboard_<service>_http_request_duration_seconds`` by route template,
    method and exact status; its ``_count`` is the request counter."""
    return Histogram(
        f"leaderboard_{service}_http_request_duration_seconds",
        "HTTP requests answered (probes and /metrics excepted) and how long each took, by "
        "route template (none: no route matched), method and status.",
        ["route", "method", "status"],
        buckets=REQUEST_SECONDS_BUCKETS,
        registry=registry,
    )


class Metrics:
    """The metrics of one process, registered on ``registry``."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

        self.build_info = Info(
            "leaderboard_build",
            "Version of the running leaderboard code; the value is always 1.",
            registry=self.registry,
        )
        self.build_info.info(
            {
                "service": service,
                "version": leaderboard.__version__,
                "python": platform.python_version(),
            }
        )

        # The batch consumption loop (leaderboard.core.consumer).
        self.consumed_messages = Counter(
            "leaderboard_consumer_messages_total",
            "Kafka messages handed to a batch handler, by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.consumed_batches = Counter(
            "leaderboard_consumer_batches_total",
            "Batches whose work became durable and whose offsets were stored.",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "leaderboard_consumer_batch_size",
            "Messages per batch handed to the handler.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "leaderboard_consumer_batch_duration_seconds",
            "Time from a batch's start to its completion (durable); with batches in flight, "
            "this includes waiting behind the earlier ones.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.consumer_errors = Counter(
            "leaderboard_consumer_errors_total",
            "Errors reported by the Kafka consumer, by librdkafka error name.",
            ["error"],
            registry=self.registry,
        )
        self.rebalances = Counter(
            "leaderboard_consumer_rebalances_total",
            "Partition assignment changes, by kind (assign, revoke, lost).",
            ["kind"],
            registry=self.registry,
        )
        self.assigned_partitions = Gauge(
            "leaderboard_consumer_assigned_partitions",
            "Partitions currently assigned to this consumer.",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "leaderboard_consumer_lag",
            "Messages between this consumer's position and the end of the partition.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.shutdown_seconds = Gauge(
            "leaderboard_shutdown_duration_seconds",
            "How long the last graceful shutdown took (set just before exit).",
            registry=self.registry,
        )
