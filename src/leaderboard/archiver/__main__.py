"""``python -m leaderboard.archiver``: run the archiver worker until SIGTERM."""

from leaderboard.archiver.service import main

if __name__ == "__main__":
    raise SystemExit(main())
