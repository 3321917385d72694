"""The archiver: every score event from ``game-score`` into PostgreSQL, exactly once.

How and why: docs/services.md, "Archiver".
"""
