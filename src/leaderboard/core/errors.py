"""The exception tree rooted at ``LeaderboardError``: what the services raise on purpose.

Its shape is drawn in docs/architecture.md.
"""

from __future__ import annotations

from typing import Any


class LeaderboardError(Exception):
    """Root of every error raised on purpose by the leaderboard package."""


class ConfigurationError(LeaderboardError):
    """A setting is missing or has an invalid value.

    ``problems`` holds one human-readable line per invalid environment variable.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class InfrastructureError(LeaderboardError):
    """A server the service depends on failed or could not be reached."""


class KafkaError(InfrastructureError):
    """A Kafka operation failed.

    ``topic``, ``partition`` and ``offset`` locate the record concerned, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        super().__init__(message)

    def log_context(self) -> dict[str, Any]:
        """The record coordinates, for binding into a log line."""
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


class DatabaseError(InfrastructureError):
    """A PostgreSQL operation failed."""


class UnavailableError(InfrastructureError):
    """A dependency was still unreachable when shutdown was requested, so retrying stopped.

    The pending work was not stored (its offsets were not either): it is redelivered.
    """


class DatabaseUnavailableError(DatabaseError):
    """PostgreSQL was still unreachable when shutdown was requested, so retrying stopped.

    The pending work was not stored (its offsets were not either): it is redelivered.
    """
