"""Request body size limits, enforced before any byte is parsed.

Both the declared ``Content-Length`` and the bytes actually received are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from fastapi import HTTPException, status


def describe_size(size: int) -> str:
    """``1048576`` -> ``1048576 bytes (1 MiB)``: exact, plus a readable form."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size} bytes ({size // factor} {unit})"
    return f"{size} bytes"


def too_large(limit: int, size: int | None = None) -> HTTPException:
    """The 413 answer, saying the limit (and the size when it is known)."""
    what = f"{size} bytes" if size is not None else "more bytes than allowed"
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=f"request body of {what} is over the limit of {describe_size(limit)}; "
        "send fewer events per request",
    )


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Raise 413 when the declared Content-Length is over ``limit``.

    A missing header is fine (the streamed bytes are counted instead); the HTTP server
    already refuses a malformed one, so an unparsable value is left to the counting too.
    """
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        return
    if declared > limit:
        raise too_large(limit, declared)


async def read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """Read the whole body, or raise 413 as soon as more than ``limit`` bytes arrived."""
    received = bytearray()
    async for chunk in chunks:
        if len(received) + len(chunk) > limit:
            raise too_large(limit)
        received += chunk
    return bytes(received)
