"""Body size limits: the declared length and the bytes actually streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import HTTPException

from leaderboard.ingest.limits import check_declared_length, describe_size, read_limited

LIMIT = 1024


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class Source:
    """Yields chunks and records how many were taken."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = list(parts)
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            self.taken += 1
            yield part


def test_sizes_are_described_exactly_and_readably() -> None:
    assert describe_size(1024 * 1024) == "1048576 bytes (1 MiB)"
    assert describe_size(2048) == "2048 bytes (2 KiB)"
    assert describe_size(1000) == "1000 bytes"


@pytest.mark.parametrize("declared", [None, "0", str(LIMIT), "not-a-number"])
def test_a_declared_length_within_the_limit_or_unknown_passes(declared: str | None) -> None:
    check_declared_length(declared, LIMIT)


def test_a_declared_length_over_the_limit_is_413_naming_both_sizes() -> None:
    with pytest.raises(HTTPException) as caught:
        check_declared_length(str(LIMIT + 1), LIMIT)
    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "request body of 1025 bytes is over the limit of 1024 bytes (1 KiB); "
        "send fewer events per request"
    )


def test_a_body_within_the_limit_is_read_whole() -> None:
    body = asyncio.run(read_limited(chunks(b"a" * 1000, b"b" * 24, b""), LIMIT))
    assert body == b"a" * 1000 + b"b" * 24


def test_streamed_bytes_over_the_limit_stop_the_read_at_the_crossing_chunk() -> None:
    source = Source(b"a" * 1000, b"b" * 25, b"c" * 10_000_000)
    with pytest.raises(HTTPException) as caught:
        asyncio.run(read_limited(source, LIMIT))
    assert caught.value.status_code == 413
    assert "over the limit of 1024 bytes" in caught.value.detail
    assert source.taken == 2
