"""Shared infrastructure for every leaderboard service.

- ``config``: settings from environment variables (one base, one subclass per service).
- ``events``: the message contract (score events, change notices, snapshots) and its checks.
- ``keys``: the names of every Redis key the project writes.
- ``errors``: the single exception hierarchy rooted at ``LeaderboardError``.
- ``logging``: ``configure_logging()`` for structlog (JSON off a terminal, console on one).
- ``metrics``: the metrics every process exports, the web services' ``/metrics`` and
  request accounting (each service declares its own in ``<service>/metrics.py``).
- ``kafka``: the one translation from settings to librdkafka configuration, topic specs.
- ``consumer``: the batch consumption loop that stores offsets only after durable work.
- ``retry``: retrying a dependency's outage while reporting not ready.
- ``lifecycle``: the exit statuses, signal handling and the bounded graceful shutdown.
- ``probes``: ``/livez``, ``/readyz`` and ``/metrics`` for workers and web services.
- ``runtime``: the start-up and shutdown of every service (``run_worker``,
  ``run_web_service``).
"""
