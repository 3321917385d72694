"""The local development stack: real Kafka, Redis and PostgreSQL servers without Docker.

``python -m leaderboard.devstack {up,down,status,run,tools}``; services never import it.
"""
