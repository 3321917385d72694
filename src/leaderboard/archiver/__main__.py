"""``python -m leaderboard.archiver``: see ``leaderboard.archiver.main``."""

from leaderboard.archiver.main import main

if __name__ == "__main__":
    raise SystemExit(main())
