"""``SimulatorSettings``: how many players, how fast, in which batches."""

from __future__ import annotations

from pydantic import Field, field_validator

from leaderboard.core.config import LeaderboardSettings, Port
from leaderboard.core.events import DEFAULT_LEADERBOARD


class SimulatorSettings(LeaderboardSettings):
    """Settings of ``python -m leaderboard.simulator``."""

    service_name: str = Field("simulator", description="Name on every log line and metric.")
    http_port: Port = Field(9104, description="Port of `/metrics` and the probes.")
    simulator_rate: float = Field(
        200.0, gt=0, le=1_000_000, description="Target events per second (all leaderboards)."
    )
    simulator_players: int = Field(1000, ge=1, le=10_000_000, description="Distinct players.")
    simulator_batch_size: int = Field(
        50, ge=1, le=100_000, description="Events produced per batch (the original knob)."
    )
    simulator_sleep_seconds: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="Pause between batches (the original knob); unset: derived from the rate.",
    )
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
    def pause_seconds(self) -> float:
        """Pause between batches: the configured one, or what the target rate implies."""
        if self.simulator_sleep_seconds is not None:
            return self.simulator_sleep_seconds
        return self.simulator_batch_size / self.simulator_rate
