"""``python -m leaderboard.gateway``: see ``leaderboard.gateway.main``."""

from leaderboard.gateway.main import main

if __name__ == "__main__":
    raise SystemExit(main())
