"""Shared infrastructure for every leaderboard service; docs/architecture.md lists its modules."""
