"""The ingest API: game servers submit score events over HTTP; they go to ``game-score``.

``POST /api/scores`` takes one event or a batch, authenticates the caller with an API
key, validates every event against the contract of ``leaderboard.core.events`` and
answers 202 only once Kafka acknowledged every event with ``acks=all``. Modules:

- ``settings``: ``IngestSettings``;
- ``auth``: API key parsing and the authentication decision;
- ``limits``: request body size limits;
- ``models``: the input model and the request body parser;
- ``producer``: the Kafka producer wrapper that turns deliveries into awaitables;
- ``app``: the FastAPI application factory ``create_app``;
- ``__main__``: the process entry point (``python -m leaderboard.ingest``).
"""
