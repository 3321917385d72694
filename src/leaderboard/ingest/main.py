"""The ingest API process: ``leaderboard-ingest`` or ``python -m leaderboard.ingest``."""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard.core.web import run_web_service
from leaderboard.ingest.app import create_app
from leaderboard.ingest.settings import IngestSettings


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the ingest API until it is stopped; returns the exit status."""
    return run_web_service(IngestSettings, create_app, argv)
