"""Synthetic players and their score events.

Player ``i`` is ``player-<i>`` with a stable display name; low indices play most often.
"""

from __future__ import annotations

import random
import uuid

from leaderboard.core.events import SCHEMA_VERSION, ScoreEvent, utc_now

ADJECTIVES = (
    "Swift", "Brave", "Clever", "Silent", "Lucky", "Fierce", "Mighty", "Nimble",
    "Crimson", "Golden", "Shadow", "Cosmic", "Frozen", "Blazing", "Electric", "Iron",
)  # fmt: skip
ANIMALS = (
    "Otter", "Falcon", "Panda", "Tiger", "Wolf", "Lynx", "Raven", "Badger",
    "Gecko", "Heron", "Mantis", "Orca", "Viper", "Yak", "Koala", "Phoenix",
)  # fmt: skip


def display_name(index: int) -> str:
    """A readable name that is the same for a player every time."""
    adjective = ADJECTIVES[index % len(ADJECTIVES)]
    animal = ANIMALS[(index // len(ADJECTIVES)) % len(ANIMALS)]
    return f"{adjective} {animal} {index}"


class PlayerPool:
    """Draws score events for a fixed population of players."""

    def __init__(
        self, players: int, leaderboards: list[str], max_score: int, seed: int | None = None
    ) -> None:
        self._players = players
        self._leaderboards = leaderboards
        self._max_score = max_score
        self._random = random.Random(seed)  # noqa: S311 (a game simulation, not crypto)

    def _player(self) -> int:
        # Squaring a uniform draw favours low indices: player 0 plays most often.
        return int(self._players * self._random.random() ** 2)

    def event(self) -> ScoreEvent:
        index = self._player()
        return ScoreEvent(
            event_id=uuid.UUID(int=self._random.getrandbits(128), version=4),
            leaderboard=self._random.choice(self._leaderboards),
            player_id=f"player-{index}",
            display_name=display_name(index),
            score=self._random.randint(1, self._max_score),
            occurred_at=utc_now(),
            version=SCHEMA_VERSION,
        )
