"""Board definitions for tests: built, sent to a test's definitions topic, and the standings
each operator should produce from a list of events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from leaderboard.core.boards import BoardDefinition, Operator, Sort
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.definitions import definition_key
from leaderboard.core.events import ScoreEvent
from leaderboard.core.kafka import producer_config


def board_definition(board: str, revision: int = 1, **spec: Any) -> BoardDefinition:
    spec.setdefault("title", f"Board {board}")
    return BoardDefinition(id=board, revision=revision, updated_at=datetime.now(UTC), **spec)


def define_boards(settings: LeaderboardSettings, definitions: Iterable[BoardDefinition]) -> None:
    """Send definitions to the settings' definitions topic, as the admin API does."""
    producer = Producer(producer_config(settings))
    for definition in definitions:
        producer.produce(
            settings.topic_leaderboard_definitions,
            key=definition_key(definition.id),
            value=definition.to_json(),
        )
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} definitions not acknowledged"


def expected_standings(
    events: Iterable[ScoreEvent], operator: Operator = "sum", sort: Sort = "desc"
) -> dict[str, Counter[str]]:
    """Per board and player, the score the operator keeps (each event counted once, in any
    order): a sum; the best by the sort; the value of the newest event (at equal times, the
    better value)."""
    better = (lambda a, b: a > b) if sort == "desc" else (lambda a, b: a < b)
    held: dict[tuple[str, str], tuple[int, datetime]] = {}
    for event in events:
        key = (event.leaderboard, event.player_id)
        current = held.get(key)
        if current is None:
            held[key] = (event.score, event.occurred_at)
        elif operator == "sum":
            held[key] = (current[0] + event.score, event.occurred_at)
        elif operator == "best":
            if better(event.score, current[0]):
                held[key] = (event.score, event.occurred_at)
        elif event.occurred_at > current[1] or (
            event.occurred_at == current[1] and better(event.score, current[0])
        ):
            held[key] = (event.score, event.occurred_at)
    result: dict[str, Counter[str]] = {}
    for (board, player), (score, _) in held.items():
        result.setdefault(board, Counter())[player] = score
    return result
