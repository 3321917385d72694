"""Prometheus metrics: every metric the project exports is declared here.

All names start with ``leaderboard_``. Metrics live on a ``Metrics`` object built in a
process's ``main()`` around its own ``CollectorRegistry`` (no import-time globals, so
tests build as many as they like). Every process exports ``leaderboard_build_info``
plus the standard process and Python runtime collectors. Workers serve them on their own
port with ``leaderboard.core.probes``; web services route ``/metrics`` to a ``MetricsEndpoint``
and count their API requests with ``RequestAccounting``.
"""

from __future__ import annotations

import platform
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    make_asgi_app,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import leaderboard
from leaderboard.core.logging import get_logger

_log = get_logger(__name__)

#: Batch durations from 1 ms to about 30 s.
BATCH_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_SIZE_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


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


class MetricsEndpoint:
    """``/metrics`` for a web service, as an ASGI endpoint its router serves at one exact
    path (mounting the app instead would redirect ``/metrics`` to ``/metrics/``)."""

    def __init__(self, metrics: Metrics) -> None:
        self._app = make_asgi_app(registry=metrics.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


class RequestAccounting:
    """ASGI middleware of the web services: counts the requests under ``prefix`` by status
    in ``requests`` (a counter labelled ``status``) and logs each one: server errors as
    warnings, client errors at ``client_error_level``, the rest at debug. It logs the
    method, path, status, duration, client address and the authenticated caller's name
    (``scope["state"]["caller"]``), never headers, so never a credential."""

    def __init__(
        self,
        app: ASGIApp,
        requests: Counter,
        *,
        prefix: str = "/api/",
        client_error_level: str = "debug",
    ) -> None:
        self.app = app
        self.requests = requests
        self.prefix = prefix
        self.client_error_level = client_error_level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        answered = {"status": 500}
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            code = answered["status"]
            self.requests.labels(status=str(code)).inc()
            client = scope.get("client")
            fields = {
                "method": scope["method"],
                "path": path,
                "status": code,
                "seconds": round(time.perf_counter() - started, 4),
                "caller": scope.get("state", {}).get("caller"),
                "client": client[0] if client else None,
            }
            if code >= 500:
                level = "warning"
            elif code >= 400:
                level = self.client_error_level
            else:
                level = "debug"
            getattr(_log, level)("request", **fields)


class RankerMetrics:
    """Metrics of the ranker (score events applied to the Redis sorted sets)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.applied = Counter(
            "leaderboard_ranker_events_applied_total",
            "Score events added to a sorted set (each counted once).",
            registry=registry,
        )
        self.duplicates = Counter(
            "leaderboard_ranker_events_duplicate_total",
            "Score events skipped because their event_id was applied within the dedup window.",
            registry=registry,
        )
        self.already_applied = Counter(
            "leaderboard_ranker_events_already_applied_total",
            "Score events skipped because their offset was already applied (redelivery).",
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


class SimulatorMetrics:
    """Metrics of the simulator (synthetic score events)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.produced = Counter(
            "leaderboard_simulator_events_produced_total",
            "Score events the broker acknowledged.",
            registry=registry,
        )
        self.failed = Counter(
            "leaderboard_simulator_events_failed_total",
            "Score events the broker did not acknowledge.",
            registry=registry,
        )


class IngestMetrics:
    """Metrics of the ingest API (scores submitted over HTTP into game-score)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "leaderboard_ingest_requests_total",
            "Score submission requests (/api/...) answered, by HTTP status.",
            ["status"],
            registry=registry,
        )
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


class GatewayMetrics:
    """Metrics of the gateway (snapshots fanned out to WebSocket clients, the REST API)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connected_clients = Gauge(
            "leaderboard_gateway_connected_clients",
            "WebSocket clients connected right now.",
            registry=registry,
        )
        self.connections = Counter(
            "leaderboard_gateway_connections_total",
            "WebSocket clients accepted.",
            registry=registry,
        )
        self.refused = Counter(
            "leaderboard_gateway_connections_refused_total",
            "WebSocket handshakes refused, by reason (origin, limit, invalid_leaderboard).",
            ["reason"],
            registry=registry,
        )
        self.disconnects = Counter(
            "leaderboard_gateway_disconnects_total",
            "WebSocket clients gone, by reason (closed, send_timeout, shutdown, error).",
            ["reason"],
            registry=registry,
        )
        self.messages_sent = Counter(
            "leaderboard_gateway_messages_sent_total",
            "WebSocket messages written to clients, by type (snapshot, empty, heartbeat).",
            ["type"],
            registry=registry,
        )
        self.coalesced = Counter(
            "leaderboard_gateway_updates_coalesced_total",
            "Snapshots never sent to a slow client because a newer one replaced them first.",
            registry=registry,
        )
        self.send_seconds = Histogram(
            "leaderboard_gateway_send_duration_seconds",
            "From a snapshot's arrival in the gateway until it was written to one client.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=registry,
        )
        self.freshness_seconds = Histogram(
            "leaderboard_gateway_freshness_seconds",
            "Send time minus the snapshot's newest_event_at (end-to-end freshness).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.snapshots_received = Counter(
            "leaderboard_gateway_snapshots_received_total",
            "Snapshots read from the leaderboard topic or the Redis cache, by outcome "
            "(applied; stale: older than the one held; invalid; superseded: replaced by a "
            "newer one before the busy event loop could fan it out).",
            ["outcome"],
            registry=registry,
        )
        self.leaderboards = Gauge(
            "leaderboard_gateway_leaderboards",
            "Leaderboards whose latest snapshot the gateway holds in memory.",
            registry=registry,
        )
        self.kafka_errors = Counter(
            "leaderboard_gateway_kafka_errors_total",
            "Errors reported by the snapshot consumer, by librdkafka error name.",
            ["error"],
            registry=registry,
        )
        self.api_requests = Counter(
            "leaderboard_gateway_api_requests_total",
            "REST API requests (/api/...) answered, by HTTP status.",
            ["status"],
            registry=registry,
        )


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
