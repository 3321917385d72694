"""``python -m leaderboard.publisher``: see ``leaderboard.publisher.main``."""

from leaderboard.publisher.main import main

if __name__ == "__main__":
    raise SystemExit(main())
