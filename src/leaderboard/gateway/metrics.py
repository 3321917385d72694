"""``GatewayMetrics``: the metrics only the gateway exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from leaderboard.core.metrics import request_duration

#: The close codes (RFC 6455, section 7.4.1) a disconnect is labelled with; any other code
#: is ``other``, so the label has a fixed set of values whatever clients send.
CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1008, 1009, 1011, 1012, 1013})


def close_code_label(code: int | None) -> str:
    """The ``code`` label of a disconnect: the close code, ``other`` or ``unknown``."""
    if code is None:
        return "unknown"
    return str(code) if code in CLOSE_CODES else "other"


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
            "WebSocket handshakes refused, by reason (origin, limit, invalid_leaderboard, "
            "invalid_query).",
            ["reason"],
            registry=registry,
        )
        self.disconnects = Counter(
            "leaderboard_gateway_disconnects_total",
            "WebSocket sessions ended, by reason (closed, send_timeout, shutdown, error) and "
            "close code (one of CLOSE_CODES, other, or unknown: none was seen).",
            ["reason", "code"],
            registry=registry,
        )
        self.messages_sent = Counter(
            "leaderboard_gateway_messages_sent_total",
            "WebSocket messages written to clients, by type (hello, snapshot, player, heartbeat).",
            ["type"],
            registry=registry,
        )
        self.player_watchers = Gauge(
            "leaderboard_gateway_player_watchers",
            "WebSocket clients watching a player (?player=) right now.",
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
            "Errors reported by the snapshot and change notice consumers, by librdkafka "
            "error name.",
            ["error"],
            registry=registry,
        )
        self.http_requests = request_duration("gateway", registry)
