"""``SimulatorMetrics``: the metrics only the simulator exports (names and labels are a contract:
the chart's dashboards and alerts use them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


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
