"""``python -m leaderboard.ranker``: see ``leaderboard.ranker.main``."""

from leaderboard.ranker.main import main

if __name__ == "__main__":
    raise SystemExit(main())
