"""The local stack's topics and their idempotent creation.

In Kubernetes the chart's KafkaTopic resources create the same layout (tests/k8s compares).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from leaderboard.core.config import LeaderboardSettings
from leaderboard.devstack.errors import TopicError

#: Partitions of the score topic: the most ranker or archiver replicas that share work.
GAME_SCORE_PARTITIONS = 6
#: One broker locally.
REPLICATION_FACTOR = 1


@dataclass(frozen=True)
class TopicSpec:
    """The layout a topic must have: name, partitions, replication and topic configs."""

    name: str
    partitions: int
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def topic_specs(settings: LeaderboardSettings) -> list[TopicSpec]:
    """The project's topics under the names the settings give them.

    ``game-score`` is keyed by leaderboard and player, so it gets several partitions;
    ``leaderboard`` holds the latest snapshot per leaderboard, so it is compacted.
    """
    return [
        TopicSpec(settings.topic_game_score, GAME_SCORE_PARTITIONS, REPLICATION_FACTOR),
        TopicSpec(settings.topic_game_score_dlq, 1, REPLICATION_FACTOR),
        TopicSpec(settings.topic_leaderboard_change, 1, REPLICATION_FACTOR),
        TopicSpec(
            settings.topic_leaderboard_definitions,
            1,
            REPLICATION_FACTOR,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
        ),
        TopicSpec(
            settings.topic_player_erasures,
            1,
            REPLICATION_FACTOR,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
        ),
        TopicSpec(settings.topic_period_closed, 1, REPLICATION_FACTOR),
        TopicSpec(
            settings.topic_leaderboard,
            1,
            REPLICATION_FACTOR,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
        ),
    ]


def ensure_topics(
    admin: AdminClient, specs: Iterable[TopicSpec], timeout: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Idempotent: an existing topic is left alone, unless it has fewer partitions than
    asked, which is reported (partitions can grow but the key-to-partition mapping
    would change under running consumers, so that is an operator's decision).
    """
    specs = list(specs)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise TopicError(f"cannot list topics: {exc}") from exc
    for spec in specs:
        if spec.name in existing and len(existing[spec.name].partitions) < spec.partitions:
            raise TopicError(
                f"topic {spec.name!r} has {len(existing[spec.name].partitions)} partitions, "
                f"fewer than the {spec.partitions} configured",
                topic=spec.name,
            )
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config=dict(spec.config),
            )
            for spec in missing
        ],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            # Another process created it between our listing and our request: fine.
            if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise TopicError(f"cannot create topic {name!r}: {exc}", topic=name) from exc
    return created
