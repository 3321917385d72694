"""``DevstackError``: the local stack could not be installed, started or stopped."""

from __future__ import annotations

from leaderboard.core.errors import LeaderboardError


class DevstackError(LeaderboardError):
    """The local development stack could not be installed, started or stopped.

    ``log_file`` names the server's log to read, when there is one.
    """

    def __init__(self, message: str, *, log_file: str | None = None) -> None:
        self.log_file = log_file
        if log_file:
            message = f"{message} (see its log: {log_file})"
        super().__init__(message)
