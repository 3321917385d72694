"""The ranker: applies score events exactly once to one Redis sorted set per leaderboard.

Design (offset fencing, dedup window, dead letters, notices): docs/services.md, "Ranker".
"""
