"""``python -m leaderboard.ingest``: see ``leaderboard.ingest.main``."""

from leaderboard.ingest.main import main

if __name__ == "__main__":
    raise SystemExit(main())
