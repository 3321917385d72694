"""uvicorn's WebSocket protocol, extended with direct frame writes and bounded buffers.

Why, and which uvicorn internals it relies on: docs/api.md, "Inside a gateway process".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

CHANNEL_EXTENSION = "leaderboard.channel"
#: How long connections may take to finish their closing handshake at shutdown.
SHUTDOWN_GRACE_SECONDS = 2.0
#: Bytes buffered in the process for one client before sends to it wait: bounds the
#: memory a slow client can hold.
WS_WRITE_BUFFER_BYTES = 32 * 1024


class Channel(Protocol):
    """Direct access to one WebSocket connection's socket."""

    def can_write(self) -> bool:
        """True when a frame may be written now (open, and the write buffer not full)."""
        ...

    def write_frame(self, frame: bytes) -> None:
        """Write one complete, unmasked data frame (check ``can_write()`` first)."""
        ...

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` each time a full write buffer drained enough to write again."""
        ...

    def abort(self) -> None:
        """Drop the connection now, with whatever it still had to send."""
        ...


def channel_of(scope: Mapping[str, Any]) -> Channel | None:
    """The connection's ``Channel``, when it runs under ``websocket_protocol``."""
    extension = scope.get("extensions", {}).get(CHANNEL_EXTENSION)
    return None if extension is None else extension["channel"]


def websocket_protocol(
    write_buffer_bytes: int = WS_WRITE_BUFFER_BYTES,
) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn as ``ws``."""

    class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
        _paused = False
        _resumed: Callable[[], None] | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            # uvloop's transports are not asyncio.WriteTransport subclasses: duck-type.
            set_limits = getattr(transport, "set_write_buffer_limits", None)
            if set_limits is not None:
                set_limits(high=write_buffer_bytes)

        def handle_connect(self, event: Request) -> None:
            super().handle_connect(event)
            # The app task was created but has not run yet: it sees the extension.
            scope = getattr(self, "scope", None)
            if scope is not None:
                scope["extensions"][CHANNEL_EXTENSION] = {"channel": self}

        # -- Channel ---------------------------------------------------------------------

        def can_write(self) -> bool:
            return not (
                self._paused or self.close_sent or self.disconnected or self.transport.is_closing()
            )

        def write_frame(self, frame: bytes) -> None:
            self.transport.write(frame)

        def on_writable(self, callback: Callable[[], None] | None) -> None:
            self._resumed = callback

        def abort(self) -> None:
            if self.transport is not None and not self.disconnected:
                self.transport.abort()

        # -- flow control and dead peers ---------------------------------------------------

        def pause_writing(self) -> None:
            super().pause_writing()
            self._paused = True

        def resume_writing(self) -> None:
            super().resume_writing()
            self._paused = False
            if self._resumed is not None:
                self._resumed()

        def connection_lost(self, exc: Exception | None) -> None:
            self._resumed = None
            super().connection_lost(exc)

        def keepalive_timeout(self) -> None:
            super().keepalive_timeout()  # queues a close frame and "closes" (waits to flush)
            self.abort()

        def shutdown(self) -> None:
            super().shutdown()
            self.loop.call_later(SHUTDOWN_GRACE_SECONDS, self.abort)

    return GatewayWebSocketProtocol
