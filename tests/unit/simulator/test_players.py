"""Simulated players produce valid, reproducible, skewed score events."""

from collections import Counter

import pytest

from leaderboard.core.config import load_settings
from leaderboard.core.errors import ConfigurationError
from leaderboard.core.events import ScoreBounds, decode_score_event
from leaderboard.simulator.players import PlayerPool, display_name
from leaderboard.simulator.settings import SimulatorSettings


def test_events_satisfy_the_contract() -> None:
    pool = PlayerPool(100, ["global", "weekly"], max_score=100, seed=1)
    for _ in range(200):
        event = pool.event()
        assert decode_score_event(event.to_json(), ScoreBounds()) == event
        assert event.leaderboard in {"global", "weekly"}
        assert 1 <= event.score <= 100


def test_a_seed_makes_the_stream_reproducible() -> None:
    first = [PlayerPool(50, ["global"], 10, seed=3).event() for _ in range(1)]
    again = [PlayerPool(50, ["global"], 10, seed=3).event() for _ in range(1)]
    assert [(e.event_id, e.player_id, e.score) for e in first] == [
        (e.event_id, e.player_id, e.score) for e in again
    ]


def test_activity_is_skewed_towards_regulars() -> None:
    pool = PlayerPool(1000, ["global"], 10, seed=5)
    counts = Counter(pool.event().player_id for _ in range(5000))
    top_tenth = sum(counts[f"player-{i}"] for i in range(100))
    assert top_tenth > 5000 * 0.25  # uniform would give 10 %


def test_display_names_are_stable_and_distinct() -> None:
    assert display_name(42) == display_name(42)
    assert len({display_name(i) for i in range(500)}) == 500


@pytest.mark.parametrize(
    ("rate", "batch", "pause"), [(200, 50, 0.25), (500, 125, 0.25), (2, 1, 0.5), (0.1, 1, 10)]
)
def test_batches_and_pauses_come_from_the_rate(
    monkeypatch: pytest.MonkeyPatch, rate: float, batch: int, pause: float
) -> None:
    monkeypatch.setenv("LEADERBOARD_SIMULATOR_RATE", str(rate))
    settings = load_settings(SimulatorSettings)
    assert settings.batch_size == batch
    assert settings.pause_seconds == pytest.approx(pause)


def test_leaderboards_must_not_be_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_SIMULATOR_LEADERBOARDS", " , ")
    with pytest.raises(ConfigurationError, match="LEADERBOARD_SIMULATOR_LEADERBOARDS"):
        load_settings(SimulatorSettings)
