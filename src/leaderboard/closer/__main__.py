"""``python -m leaderboard.closer``: see ``leaderboard.closer.main``."""

from leaderboard.closer.main import main

if __name__ == "__main__":
    raise SystemExit(main())
