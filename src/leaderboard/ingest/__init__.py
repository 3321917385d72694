"""The ingest API: game servers submit score events over HTTP; they go to ``game-score``.

Behaviour and design: docs/services.md, "Ingest API".
"""
