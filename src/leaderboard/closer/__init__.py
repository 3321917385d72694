"""The closer: closes each period of a scheduled board once its grace is over, storing its
final standings in PostgreSQL and announcing them on Kafka, exactly once.

Design (the fence, the steps, recovery): docs/architecture.md, "Closing".
"""
