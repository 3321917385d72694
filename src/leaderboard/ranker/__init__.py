"""The ranker: applies score events to one Redis sorted set per leaderboard.

It consumes ``game-score`` in batches. Per partition, one Lua script applies the batch
and records the partition's next offset atomically, refusing what was already applied,
so every score counts exactly once in Redis whatever crashes, rebalances or zombie
consumers happen (see ``apply``). Invalid events go to ``game-score.dlq``. After each
applied batch it sends one change notice to ``leaderboard-change`` for the publisher.
"""
