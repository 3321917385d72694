"""``SimulatorSettings``: how many players, how fast, on which leaderboards."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from leaderboard.core.config import LeaderboardSettings, Port
from leaderboard.core.events import DEFAULT_LEADERBOARD

#: The simulator produces a batch of events, then pauses: about this often.
TICK_SECONDS = 0.25


class SimulatorSettings(LeaderboardSettings):
    """Settings of ``python -m leaderboard.simulator``."""

    service_name: ClassVar[str] = "simulator"
    http_port: Port = Field(9104, description="Port of `/metrics` and the probes.")
    simulator_rate: float = Field(
        200.0, gt=0, le=1_000_000, description="Target events per second (all leaderboards)."
    )
    simulator_players: int = Field(1000, ge=1, le=10_000_000, description="Distinct players.")
    simulator_leaderboards: str = Field(
        f"{DEFAULT_LEADERBOARD},weekly",
        description="Comma-separated leaderboard ids the events are spread over.",
    )
    simulator_max_score: int = Field(
        100, ge=1, description="Largest score delta of one simulated event."
    )
    simulator_max_events: int | None = Field(
        None, ge=1, description="Stop after this many events; unset: run until stopped."
    )
    simulator_seed: int | None = Field(
        None, description="Random seed, for a reproducible stream; unset: random."
    )

    @field_validator("simulator_leaderboards")
    @classmethod
    def _check_leaderboards(cls, value: str) -> str:
        boards = [board.strip() for board in value.split(",") if board.strip()]
        if not boards:
            raise ValueError("must name at least one leaderboard")
        return ",".join(boards)

    @property
    def leaderboards(self) -> list[str]:
        return self.simulator_leaderboards.split(",")

    @property
    def batch_size(self) -> int:
        """Events produced per tick: what the target rate brings in ``TICK_SECONDS``."""
        return max(1, round(self.simulator_rate * TICK_SECONDS))

    @property
    def pause_seconds(self) -> float:
        """Pause between batches, so the batches add up to the target rate."""
        return self.batch_size / self.simulator_rate
