"""Factories for score events, helpers to send them to the real broker, the totals they
should add up to (and do, in Redis), and standings written straight to Redis."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer
from redis import Redis

from leaderboard.core.boards import Sort
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.events import ScoreEvent
from leaderboard.core.kafka import producer_config
from leaderboard.core.keys import RedisKeys
from leaderboard.core.standings import board_score


def make_event(
    player_id: str,
    score: int,
    leaderboard: str = "global",
    *,
    event_id: uuid.UUID | None = None,
    display_name: str | None = None,
    occurred_at: datetime | None = None,
) -> ScoreEvent:
    return ScoreEvent(
        event_id=event_id or uuid.uuid4(),
        leaderboard=leaderboard,
        player_id=player_id,
        display_name=display_name,
        score=score,
        occurred_at=occurred_at or datetime.now(UTC),
        version=1,
    )


def random_events(
    count: int, leaderboards: Sequence[str], players: int = 50, seed: int = 7
) -> list[ScoreEvent]:
    """``count`` events over ``players`` players spread across ``leaderboards``, each
    occurring at a random millisecond of the last hour (so not in the order sent)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        make_event(
            f"player-{rng.randrange(players)}",
            rng.randint(1, 100),
            rng.choice(leaderboards),
            occurred_at=start + timedelta(milliseconds=rng.randrange(3_600_000)),
        )
        for _ in range(count)
    ]


def totals(events: Iterable[ScoreEvent]) -> dict[str, Counter[str]]:
    """Expected total per leaderboard and player."""
    result: dict[str, Counter[str]] = {}
    for event in events:
        result.setdefault(event.leaderboard, Counter())[event.player_id] += event.score
    return result


def redis_totals(
    redis: Redis, keys: RedisKeys, boards: list[str], sorts: Mapping[str, Sort] | None = None
) -> dict[str, Counter[str]]:
    """The score per leaderboard and player in Redis's sorted sets, in each board's own sign
    (``sorts``: board -> sort, ``desc`` for a board not in it)."""
    sorts = sorts or {}
    return {
        board: Counter(
            {
                player.decode(): board_score(score, sorts.get(board, "desc"))
                for player, score in redis.zrange(keys.board(board), 0, -1, withscores=True)
            }
        )
        for board in boards
    }


def produce(
    settings: LeaderboardSettings,
    events: Iterable[ScoreEvent],
    raw: Iterable[bytes] = (),
    arrived: datetime | None = None,
) -> None:
    """Send events (and raw, possibly invalid, values) to game-score; wait for acks.
    ``arrived``: the events' record time, as if they had been produced then."""
    producer = Producer(producer_config(settings))
    stamp = {} if arrived is None else {"timestamp": int(arrived.timestamp() * 1000)}
    for event in events:
        producer.produce(settings.topic_game_score, key=event.key, value=event.to_json(), **stamp)
        producer.poll(0)
    for value in raw:
        producer.produce(settings.topic_game_score, value=value)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} messages not acknowledged"


def produce_in_background(
    settings: LeaderboardSettings, chunks: Iterable[Iterable[ScoreEvent]]
) -> threading.Thread:
    """``produce`` each chunk in turn on a thread of its own (started; join it)."""
    thread = threading.Thread(target=lambda: [produce(settings, chunk) for chunk in chunks])
    thread.start()
    return thread
