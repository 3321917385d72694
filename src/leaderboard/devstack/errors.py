"""The local stack's errors: it could not be installed, started or stopped; a topic failed."""

from __future__ import annotations

from leaderboard.core.errors import KafkaError, LeaderboardError


class DevstackError(LeaderboardError):
    """The local development stack could not be installed, started or stopped.

    ``log_file`` names the server's log to read, when there is one.
    """

    def __init__(self, message: str, *, log_file: str | None = None) -> None:
        self.log_file = log_file
        if log_file:
            message = f"{message} (see its log: {log_file})"
        super().__init__(message)


class TopicError(KafkaError):
    """A topic could not be created, or exists with an incompatible layout."""
