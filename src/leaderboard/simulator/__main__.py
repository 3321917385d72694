"""``python -m leaderboard.simulator``: see ``leaderboard.simulator.main``."""

from leaderboard.simulator.main import main

if __name__ == "__main__":
    raise SystemExit(main())
