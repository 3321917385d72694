"""The benchmark's workload: score events as ready-to-send bytes, and filling a topic.

Events are generated once, deterministically from a seed, as the exact JSON a game
server sends (``docs/events.md``), with their Kafka keys, so pre-filling the topic costs
only the producer. The expected total of every player on every leaderboard is kept,
so a drain can be checked for completeness and for double counting afterwards.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from confluent_kafka import Producer

from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.kafka import producer_config

#: Tuned for bulk loading: big batches, a longer linger, more messages in flight.
PREFILL_OVERRIDES = {
    "linger.ms": 50,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}


@dataclass
class Workload:
    """``len(values)`` score events over ``players`` players and ``boards``."""

    boards: list[str]
    players: int
    values: list[bytes] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    #: board -> player -> total score, what Redis must hold after a full drain.
    expected: dict[str, Counter[str]] = field(default_factory=dict)
    #: The same for boards defined as ``best`` (highest first) and as ``latest`` (events
    #: occur in the order generated, so the last one of each player).
    expected_best: dict[str, Counter[str]] = field(default_factory=dict)
    expected_latest: dict[str, Counter[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def payload_bytes(self) -> int:
        return sum(map(len, self.values))


def generate(
    count: int, players: int, boards: list[str], *, display_share: float, seed: int = 2026
) -> Workload:
    """``count`` events: uniform random player and board, score 1-100, a display name on
    ``display_share`` of them, event times spread over the hour before now."""
    rng = random.Random(seed)
    workload = Workload(boards=boards, players=players)
    workload.expected = {board: Counter() for board in boards}
    workload.expected_best = {board: Counter() for board in boards}
    workload.expected_latest = {board: Counter() for board in boards}
    start = datetime.now(UTC) - timedelta(hours=1)
    step = timedelta(hours=1) / max(count, 1)
    names = [f"p{n}" for n in range(players)]
    for n in range(count):
        player = names[rng.randrange(players)]
        board = boards[rng.randrange(len(boards))]
        score = rng.randint(1, 100)
        event = {
            "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "leaderboard": board,
            "player_id": player,
            "score": score,
            "occurred_at": start + step * n,
            "version": 1,
        }
        if rng.random() < display_share:
            event["display_name"] = f"Player {player}"
        workload.values.append(orjson.dumps(event))
        workload.keys.append(f"{board}:{player}".encode())
        workload.expected[board][player] += score
        best = workload.expected_best[board]
        best[player] = max(best[player], score)
        workload.expected_latest[board][player] = score
    return workload


def prefill(settings: LeaderboardSettings, topic: str, workload: Workload) -> float:
    """Produce every event to ``topic`` and wait for all acks; returns the seconds taken."""
    producer = Producer(producer_config(settings, **PREFILL_OVERRIDES))
    failures: list[str] = []

    def on_delivery(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.perf_counter()
    produce = producer.produce
    for key, value in zip(workload.keys, workload.values, strict=True):
        while True:
            try:
                produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain it
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining or failures:
        raise RuntimeError(
            f"pre-fill of {topic} failed: {remaining} messages unacknowledged, "
            f"{len(failures)} failed (first: {failures[:1]})"
        )
    return elapsed
