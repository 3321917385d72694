"""The erased players' hashes and their message (the feed runs against Kafka in
tests/integration/test_ranker.py; PostgreSQL's and Redis's hashes are checked there and in
tests/integration/test_archiver.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from leaderboard.core.erasures import (
    ErasedPlayers,
    PlayerErasure,
    erasure_key,
    redis_erasure_key,
)


def test_players_are_known_by_a_sha256_and_in_redis_by_a_sha1() -> None:
    # Fixed digests: PostgreSQL and Redis compute the same ones from the id's UTF-8 bytes.
    assert erasure_key("ada") == "fdee430d40bd57deeac186cd9790033d0f06f909a8806e7ce6e717ab7c7d5029"
    assert redis_erasure_key("ada") == "e4ea294c062c525643df036a35ca579b905fa400"


def test_nobody_is_erased_until_added() -> None:
    erased = ErasedPlayers()
    assert not erased.is_erased("ada")
    assert erased.add(erasure_key("ada"))
    assert not erased.add(erasure_key("ada"))  # already held
    assert erased.is_erased("ada")
    assert not erased.is_erased("bob")
    assert len(erased) == 1


def test_an_erasure_message_carries_a_hash_never_an_id() -> None:
    erasure = PlayerErasure(player_hash=erasure_key("ada"), erased_at=datetime.now(UTC))
    assert PlayerErasure.model_validate_json(erasure.to_json()) == erasure
    with pytest.raises(ValidationError, match="player_hash"):
        PlayerErasure(player_hash="ada", erased_at=datetime.now(UTC))
