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


def test_pause_comes_from_the_rate_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_SIMULATOR_RATE", "500")
    monkeypatch.setenv("LEADERBOARD_SIMULATOR_BATCH_SIZE", "50")
    assert load_settings(SimulatorSettings).pause_seconds == pytest.approx(0.1)
    monkeypatch.setenv("LEADERBOARD_SIMULATOR_SLEEP_SECONDS", "2")
    assert load_settings(SimulatorSettings).pause_seconds == 2


def test_leaderboards_must_not_be_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_SIMULATOR_LEADERBOARDS", " , ")
    with pytest.raises(ConfigurationError, match="LEADERBOARD_SIMULATOR_LEADERBOARDS"):
        load_settings(SimulatorSettings)
