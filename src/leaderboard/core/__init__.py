"""Shared infrastructure for every leaderboard service.

- ``config``: settings from environment variables (one base, one subclass per service).
- ``events``: the message contract (score events, change notices, snapshots) and its checks.
- ``errors``: the single exception hierarchy rooted at ``LeaderboardError``.
- ``logging``: ``configure_logging()`` for structlog (JSON off a terminal, console on one).
- ``metrics``: every Prometheus metric the project exports, and the ``/metrics`` server.
- ``kafka``: the one translation from settings to librdkafka configuration, topic specs.
- ``consumer``: the batch consumption loop that stores offsets only after durable work.
- ``lifecycle``: signal handling and the bounded graceful-shutdown deadline.
"""
