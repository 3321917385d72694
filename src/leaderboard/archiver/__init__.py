"""The archiver: every score event from ``game-score`` into PostgreSQL, exactly once.

It consumes ``game-score`` in batches with ``leaderboard.core.consumer.BatchConsumer``,
decodes each message with the event contract, and writes the valid events of a batch
in one multi-row ``INSERT ... ON CONFLICT (event_id) DO NOTHING`` transaction; only then
are the batch's offsets stored. A redelivered event therefore finds its row already
there and is skipped, so every ``event_id`` is stored once. Invalid messages are counted
and skipped (the ranker owns the dead-letter topic). While PostgreSQL is unreachable the
batch is retried with capped exponential backoff, the process reports not ready, and
the lag builds up in Kafka.

Modules: ``settings`` (``ArchiverSettings``), ``schema`` (the ``score_events`` table),
``rows`` (message to row), ``store`` (the engine and the batch insert), ``retry``
(retries and readiness), ``service`` (the worker's main), ``migrate`` (Alembic, the
``leaderboard-migrate`` entry point) and ``migrations/`` (the Alembic scripts).
"""
