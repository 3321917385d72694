"""Erased players: the hashed ids the ranker and the archiver must never count again, and
the fold of the compacted ``player-erasures`` topic that carries them.

Why hashes, and how erasure stays exact: docs/services.md, "Erasure".
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from confluent_kafka import Consumer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from leaderboard.core.clients import AssignedConsumer, KafkaMessage
from leaderboard.core.compacted import CompactedFeed, follow
from leaderboard.core.config import LeaderboardSettings
from leaderboard.core.lifecycle import Shutdown
from leaderboard.core.logging import get_logger
from leaderboard.core.probes import Health

log = get_logger(__name__)

#: The readiness check the feed keeps up to date.
CHECK = "erasures"

PlayerHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def erasure_key(player_id: str) -> str:
    """The hash an erased player is known by (PostgreSQL, Kafka): SHA-256, hex, which
    PostgreSQL computes too. A suppression key, not anonymity: ids can be guessed."""
    return hashlib.sha256(player_id.encode()).hexdigest()


def redis_erasure_key(player_id: str) -> str:
    """The hash in Redis's erased set: SHA-1, hex, the one hash Redis scripts compute
    (``redis.sha1hex``)."""
    return hashlib.sha1(player_id.encode(), usedforsecurity=False).hexdigest()


class PlayerErasure(BaseModel):
    """Topic ``player-erasures``, keyed by ``player_hash``: one erased player."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    player_hash: PlayerHash
    erased_at: AwareDatetime
    version: Literal[1] = 1

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class ErasedPlayers:
    """The hashes of the erased players; safe to use from any thread."""

    def __init__(self, hashes: set[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._hashes: set[str] = set(hashes or ())

    def add(self, player_hash: str) -> bool:
        """Hold one more; True when it is new."""
        with self._lock:
            if player_hash in self._hashes:
                return False
            self._hashes.add(player_hash)
            return True

    def is_erased(self, player_id: str) -> bool:
        # Nothing to hash while nobody was erased: the usual case costs one truth test.
        return bool(self._hashes) and erasure_key(player_id) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)


class ErasureFeed(CompactedFeed):
    """Folds the erasures topic into ``erased`` (readiness check ``CHECK``). Erasures are
    permanent: a tombstone on the topic is ignored."""

    def __init__(
        self,
        settings: LeaderboardSettings,
        erased: ErasedPlayers,
        health: Health,
        *,
        consumer_factory: Callable[[dict[str, Any]], AssignedConsumer] = Consumer,
    ) -> None:
        self.erased = erased
        super().__init__(
            settings,
            settings.topic_player_erasures,
            health,
            check=CHECK,
            what="erased players",
            log=log,
            consumer_factory=consumer_factory,
        )

    def _fold(self, message: KafkaMessage) -> bool:
        value = message.value()
        where = {
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
        }
        if value is None:
            log.warning("ignoring a tombstone: erasures are permanent", **where)
            return False
        try:
            erasure = PlayerErasure.model_validate_json(value)
        except ValidationError as exc:
            log.warning("skipping an invalid erasure", error=str(exc).splitlines()[0], **where)
            return False
        return self.erased.add(erasure.player_hash)

    def _held(self) -> int:
        return len(self.erased)


def follow_erasures(
    settings: LeaderboardSettings, health: Health, shutdown: Shutdown
) -> ErasureFeed | None:
    """A started ``ErasureFeed`` that has read every erasure that existed, so that a replay
    never brings an erased player back; None when a stop was asked first. The caller
    stops the feed."""
    feed = ErasureFeed(settings, ErasedPlayers(), health)
    return feed if follow(feed, shutdown) else None
